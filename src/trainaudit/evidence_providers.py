"""Imports every evidence collector module so each registers its provider with the context."""

from trainaudit.evidence import program  # noqa: F401  source: parsed files, index, flow, training loops
from trainaudit.claims import provider as _claims  # noqa: F401  claims: status documents
