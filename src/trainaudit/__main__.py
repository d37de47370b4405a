"""`python -m trainaudit` runs the command line."""

import sys

from trainaudit.cli import main

sys.exit(main())
