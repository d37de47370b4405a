"""Training-log evidence: one reader per log format, all yielding the same Series type."""

from trainaudit.evidence.logs.series import LogEvidence, LogFile, Problem, Series

__all__ = ["LogEvidence", "LogFile", "Problem", "Series"]
