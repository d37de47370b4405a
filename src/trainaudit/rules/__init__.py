"""Rule modules; importing this package registers every rule (one module per family)."""

from trainaudit.rules import engine_rules, hygiene, integration, loop, metrics, model  # noqa: F401
from trainaudit.rules import claims  # noqa: F401,E402  TA801-TA803: status documents
