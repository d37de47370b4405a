"""Rules about engineering shortcuts that make a run's results untrustworthy."""

from __future__ import annotations

from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, register

MOCK_DEPENDENCY = register(
    Rule("TA401", "mock-dependency", "hygiene", Severity.ERROR,
         "A real dependency is replaced by a mock or stand-in outside the tests.",
         remedy="Install and use the real dependencies outside tests; keep mocks in the test suite.")
)
AMP_UNSAFE_CLIPPING = register(
    Rule("TA402", "amp-unsafe-clipping", "hygiene", Severity.WARNING,
         "Gradients are clipped while a GradScaler scales them, without unscale_ first.",
         remedy="Call scaler.unscale_(optimizer) before clipping gradients under a GradScaler.")
)
NON_ATOMIC_WRITE = register(
    Rule("TA403", "non-atomic-write", "hygiene", Severity.WARNING,
         "A result, metric or metadata file is written in place instead of temp file + os.replace.",
         remedy="Write result files to a temporary file and os.replace() it into place.")
)
SWALLOWED_FAILURE = register(
    Rule("TA404", "swallowed-failure", "hygiene", Severity.ERROR,
         "A failure around training is swallowed (bare except, except-pass) or an error path exits 0.",
         remedy="Let training failures surface: log and re-raise, and exit non-zero on error.")
)
