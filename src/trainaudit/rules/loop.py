"""Rules about the training loop itself: is it real, complete, and does it train the whole system."""

from __future__ import annotations

from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, register

PLACEHOLDER_LOOP = register(
    Rule("TA201", "placeholder-loop", "loop", Severity.ERROR,
         "A training loop that does not do forward, loss, backward and optimizer step.",
         remedy="Implement a real training loop: forward, loss on model outputs, backward, optimizer step.")
)
STUB_IMPLEMENTATION = register(
    Rule("TA202", "stub-implementation", "loop", Severity.ERROR,
         "A function or class on the training path (or named by the spec) is only a stub.",
         remedy="Implement the stubbed functions and classes on the training path before claiming training.")
)
