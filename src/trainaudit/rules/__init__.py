"""Rule modules; importing this package registers every rule (one module per family)."""

# Imported for their registrations. A family that adds checks to another's rule imports that module itself.
from trainaudit.rules import (  # noqa: F401
    checkpoints,
    claims,
    engine_rules,
    hygiene,
    integration,
    logs,
    loop,
    metrics,
    model,
    runtime,  # TA701-TA703 and the trace checks attached to other families' rules
)
