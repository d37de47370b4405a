"""Rules about what is trained on what: the model that reaches the optimizer and the data that reaches it."""

from __future__ import annotations

from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, register

PLACEHOLDER_MODEL = register(
    Rule("TA101", "placeholder-model", "model", Severity.ERROR,
         "The module whose parameters reach the optimizer is a stand-in, not the required architecture.",
         remedy="Train the required architecture{model}: build the optimizer over its parameters, not a stand-in.")
)
SYNTHETIC_DATA = register(
    Rule("TA102", "synthetic-data", "data", Severity.ERROR,
         "The batches that reach the model come from random generators, and no dataset feeds the loop.",
         remedy="Feed the training loop from the real or declared data source{data}, not from random tensors.")
)
DUMMY_INPUT = register(
    Rule("TA103", "dummy-input", "integration", Severity.ERROR,
         "A component is fed a random or constant tensor in place of an upstream component's output.",
         remedy="Wire each component to its upstream component's real output instead of random or constant tensors.")
)
