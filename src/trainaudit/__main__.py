"""`python -m trainaudit` runs the command line."""

from trainaudit.cli import entry_point

entry_point()
