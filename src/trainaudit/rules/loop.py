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
ISOLATED_TRAINING = register(
    Rule("TA203", "isolated-training", "integration", Severity.ERROR,
         "Components are optimized separately while the combined system is never trained end to end.",
         remedy="Train the combined system end to end (one forward through all components, one combined loss).")
)
DISCARDED_OUTPUT = register(
    Rule("TA204", "discarded-output", "integration", Severity.WARNING,
         "A component's output is computed in the forward or training step and never used.",
         remedy="Use every component output the system computes, or remove the component from the forward pass.")
)
