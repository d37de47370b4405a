"""Rules about evaluation: is anything but the loss measured, and are the numbers real."""

from __future__ import annotations

from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, register

MISSING_METRICS = register(
    Rule("TA301", "missing-metrics", "metrics", Severity.ERROR,
         "No validation pass and nothing but the loss measured, or a required metric never computed or logged.",
         remedy="Add a validation loop and compute and log the required metrics{metrics}.")
)
HARDCODED_METRICS = register(
    Rule("TA302", "hardcoded-metrics", "metrics", Severity.ERROR,
         "Metric values are literals or formulas of loop counters, not measurements.",
         remedy="Compute metrics from model predictions on held-out data; never write literal metric values.")
)
