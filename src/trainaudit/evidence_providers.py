"""Imports every evidence collector module so each registers its provider with the context."""

from trainaudit.claims import provider as _claims  # noqa: F401  claims: status documents
from trainaudit.evidence import program  # noqa: F401  source: parsed files, index, flow, training loops
from trainaudit.evidence import trace as _trace  # noqa: F401  trace: .trainaudit/trace.json from `trainaudit run`
from trainaudit.evidence.checkpoints import provider as _checkpoints  # noqa: F401  checkpoints
from trainaudit.evidence.logs import provider as _logs  # noqa: F401  logs: tfevents, CSV, MLflow, HF, W&B
