"""Hugging Face Trainer state: `trainer_state.json` and its `log_history` (bare NaN/Infinity tolerated)."""

from __future__ import annotations

import json
from pathlib import Path

from trainaudit.evidence.logs.series import LogFile, Problem, Series
from trainaudit.evidence.logs.textutil import number, step_of, text_or_problem

FORMAT = "hf-trainer"
_NOT_SERIES = frozenset({"step", "epoch", "total_flos"})


def read_trainer_state(path: Path, rel: str) -> LogFile:
    out = LogFile(rel, FORMAT)
    text = text_or_problem(path, out)
    if text is None:
        return out
    try:
        state = json.loads(text)  # Python's json accepts the bare NaN/Infinity the Trainer writes
    except json.JSONDecodeError as exc:
        out.problems.append(Problem("unreadable", f"not valid JSON: {exc.msg}", exc.lineno))
        return out
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        out.problems.append(Problem("unrecognised", "no log_history list"))
        return out
    out.summary = {k: state[k] for k in ("global_step", "max_steps", "num_train_epochs", "epoch") if k in state}
    series: dict[str, Series] = {}
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            continue
        out.records += 1
        step = step_of(entry.get("step"), i)
        for key, raw in entry.items():
            value = number(raw) if key not in _NOT_SERIES else None
            if value is None:
                continue
            s = series.get(key)
            if s is None:
                s = series[key] = Series(key, rel)
            s.add(step, value)
    out.series = list(series.values())
    return out
