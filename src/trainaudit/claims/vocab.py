"""The vocabulary of status documents: item ids, completion states, units, metric names, hedges."""

from __future__ import annotations

import re

# Item ids: "Sprint 2 Epic 1" is one id; bare epics are qualified by a sprint in the line or headings.
ID_RE = re.compile(
    r"\b(?:(?P<se>Sprint\s*(?P<se_s>\d+)\s*[-–—:,]?\s*Epic\s*(?P<se_e>\d+(?:\.\d+)*))"
    r"|(?P<word>Sprint|Epic|Phase|Milestone|Stage|Task|Ticket|Story|Cell|Exp|Experiment|Fix|Issue)"
    r"\s*#?\s*(?P<num>\d+(?:\.\d+)*)(?![\w.]*\d%)"
    r"|(?-i:(?P<code>(?!V\d)[A-Z]{1,4}\d+(?:\.\d+)+)))\b",
    re.I,
)
_WORD_CANON = {"experiment": "Exp", "exp": "Exp"}


def canon_id(m: re.Match[str]) -> tuple[str, str]:
    """(canonical id, kind) of an ID_RE match."""
    if m.group("se"):
        return f"Sprint {int(m.group('se_s'))} Epic {m.group('se_e')}", "epic"
    if m.group("word"):
        w = m.group("word").lower()
        return f"{_WORD_CANON.get(w, w.capitalize())} {m.group('num')}", _WORD_CANON.get(w, w).lower()
    return m.group("code"), "ticket"


# Completion states, in four classes; the negated and partial forms come first so they win.
STATE_RE = re.compile(
    r"(?P<open>\bnot\s+(?:yet\s+)?(?:started|complete[d]?|done|implemented|begun)\b|\bincomplete\b"
    r"|\bpending\b|\bto\s*do\b|\btodo\b|\bplanned\b|\bblocked\b|\[ \])"
    r"|(?P<partial>\b(?P<pct>\d{1,2}(?:\.\d+)?)\s*%\s*(?:complete[d]?|done)\b)"
    r"|(?P<active>\bin[\s-]progress\b|\bongoing\b|\bactive\b|\brunning\b|\bunderway\b|\bstarted\b|\bwip\b|⏳|🔄)"
    r"|(?P<deferred>\bdeferred\b|\bpostponed\b|\bon\s+hold\b|\bdescoped\b|\bde-scoped\b)"
    r"|(?P<done>\[[xX]\]|✅|✔️?|☑️?|\bcompleted?\b|\bdone\b|\bfinished\b|\bfixed\b|\bresolved\b|\bdelivered\b)",
    re.I,
)
SYMBOLS = frozenset({"[ ]", "[x]", "[X]", "✅", "✔", "✔️", "☑", "☑️", "⏳", "🔄"})
STATE_WORD = {"done": "COMPLETE", "active": "IN PROGRESS", "open": "NOT DONE", "deferred": "DEFERRED"}

# Lines that state a requirement or a plan rather than a fact.
REQUIREMENT_RE = re.compile(
    r"\b(?:must|should|shall|needs?\s+to|required\s+(?:before|for|to)|requires?|requirement|criteria"
    r"|threshold|target)\b",
    re.I,
)
PLAN_START_RE = re.compile(
    r"^[\s\-*>#]*(?:\d+[.)]\s*)?(?:verify|run|create|implement|add|deploy|monitor|launch|download|submit"
    r"|review|prepare|complete|update|integrate|check|ensure|set up|install|read|ask|validate|compare"
    r"|generate|replace|modify|write|provide|perform)\b(?!\s*:)",
    re.I,
)
PLAN_HEADING_RE = re.compile(
    r"\b(?:next\s+steps?|remaining\s+work|to\s*do|todo|plan(?:ned)?|roadmap|backlog|future\s+work|action\s+items"
    r"|immediate\s+actions|recommendations?|optional"
    r"|nice\s+to\s+have|do\s+later|prerequisites|success\s+criteria)\b",
    re.I,
)

# Predictions and self-assessments: what the document expects or grades itself, not what happened.
PREDICTION_RE = re.compile(
    r"(?<!as\s)\b(?:expected|expect(?:s|ing)?|will|estimated?|estimates|projected"
    r"|forecast|achievable|potential|likely|probability|should\s+(?:reach|achieve|get)|on\s+track\s+to)\b"
    r"|\b\d{1,3}(?:\.\d+)?\s*%\s+confiden(?:ce|t)\b|\bconfidence\s*:?\s*\d{1,3}(?:\.\d+)?\s*%"
    r"|\b(?:score|rating|grade)\s*:?\s*\d+(?:\.\d+)?\s*/\s*10\b|\b\d+(?:\.\d+)?\s*/\s*10\b"
    r"|\b\d{1,3}\s*%\s+ready\b",
    re.I,
)

# Durations, normalised to hours.
DURATION_UNITS = {
    "s": 1 / 3600, "sec": 1 / 3600, "secs": 1 / 3600, "second": 1 / 3600, "seconds": 1 / 3600,
    "m": 1 / 60, "min": 1 / 60, "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60,
    "h": 1.0, "hr": 1.0, "hrs": 1.0, "hour": 1.0, "hours": 1.0,
    "d": 24.0, "day": 24.0, "days": 24.0,
    "w": 168.0, "wk": 168.0, "wks": 168.0, "week": 168.0, "weeks": 168.0,
    "month": 730.0, "months": 730.0,
}
NUM = r"\d[\d,]*(?:\.\d+)?"
DURATION_RE = re.compile(
    rf"(?P<approx>~|≈|about\s+|approx\.?\s+|around\s+)?(?P<lo>{NUM})(?:\s*(?:-|–|—|to)\s*(?P<hi>{NUM}))?\s*"
    r"(?P<unit>seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|[hmdw])\b",
    re.I,
)

# Metrics; the canonical key is what quantities are grouped by.
METRICS = {
    "accuracy": "accuracy", "acc": "accuracy", "top-1": "accuracy", "f1": "f1", "f1-score": "f1",
    "f1 score": "f1", "dice": "dice", "dice score": "dice", "iou": "iou", "miou": "miou", "mse": "mse",
    "rmse": "rmse", "mae": "mae", "loss": "loss", "val loss": "val loss", "validation loss": "val loss",
    "train loss": "train loss", "training loss": "train loss", "test loss": "test loss",
    "perplexity": "perplexity", "auc": "auc", "auroc": "auroc", "roc-auc": "auroc", "precision": "precision",
    "recall": "recall", "bleu": "bleu", "rouge": "rouge", "ssim": "ssim", "psnr": "psnr",
    "pearson r": "pearson r", "correlation": "correlation", "r2": "r2", "r²": "r2", "map": "map",
    "diversity": "diversity", "kl": "kl", "elbo": "elbo", "wer": "wer", "cer": "cer", "fid": "fid",
}
_METRIC_ALT = "|".join(sorted((re.escape(k) for k in METRICS), key=len, reverse=True))
METRIC_AFTER_RE = re.compile(
    rf"(?<![\w/.-])(?P<name>{_METRIC_ALT})(?![\w-])(?:\s*\([^)]{{0,40}}\))?\s*(?:[:=]|of|is|was|at|reached|achieved)?"
    rf"\s*(?P<cmp>[<>≤≥]=?)?\s*(?P<approx>~|≈)?(?P<val>-?\d+(?:\.\d+)?)(?P<pct>\s*%)?(?![\d/.:]|\s*[-–]\s*\d)",
    re.I,
)
METRIC_BEFORE_RE = re.compile(
    rf"(?<![\w.\-/])(?P<approx>~|≈)?(?P<val>\d+(?:\.\d+)?)(?P<pct>\s*%)?\s+(?:\w+\s+)?(?P<name>{_METRIC_ALT})\b",
    re.I,
)
# A trajectory: "loss decreasing from 77809 to 410 over 15 steps", "Loss: 2.31 → 0.42". Plain dashes are left
# out: "accuracy 94-96%" is a range, not a course.
_TNUM = r"-?\d[\d,]*(?:\.\d+)?(?!\d|\.\d|[eE][-+]?\d)"  # no exponents: their precision is not in decimals
TRAJECTORY_RE = re.compile(
    rf"(?<![\w/.-])(?P<name>{_METRIC_ALT})(?![\w-])[^.;\d]{{0,40}}?"
    rf"(?:\bfrom\s+(?P<a>{_TNUM})(?P<pa>\s*%)?\s*(?:to|→|->|⟶)\s*"
    rf"|(?<![\w.])(?P<a2>{_TNUM})(?P<pa2>\s*%)?\s*(?:→|->|⟶)\s*)"
    rf"(?P<b>{_TNUM})(?P<pb>\s*%)?(?![\d.]*\s*[-–]\s*\d)"
    r"(?:[^.;\d]{0,30}?\b(?:over|in|after|across)\s+(?P<n>\d[\d,]*)\s+(?P<unit>steps?|epochs?|iterations?|iters?))?",
    re.I,
)
THROUGHPUT_RE = re.compile(
    r"(?P<approx>~|≈)?(?P<val>\d+(?:\.\d+)?)\s*(?P<name>it/s|its/s|iter/s|samples/s|steps/s|tokens/s|img/s)",
    re.I,
)
# Words that tell two values of one metric apart (different split, model state, stage, device).
CONTRASTS = (
    frozenset({"train", "training", "val", "validation", "test", "dev", "holdout"}),
    frozenset({"trained", "untrained", "pretrained", "random", "finetuned", "fine-tuned"}),
    frozenset({"initial", "final", "best", "worst", "before", "after", "start", "end", "first", "last"}),
    frozenset({"cpu", "gpu", "tpu", "mps"}),
    frozenset({"with", "without"}),
)

PARAMS_RE = re.compile(
    r"(?P<approx>~|≈)?(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<mult>[KMBT]|thousand|million|billion)?\s*"
    r"(?:trainable\s+)?(?:params|parameters)\b",
    re.I,
)
MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "billion": 1e9, "t": 1e12}

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12,
}

FILE_EXTS = (
    "py", "ipynb", "md", "txt", "rst", "yaml", "yml", "json", "csv", "tsv", "toml", "cfg", "ini", "sh",
    "pkl", "gz", "pt", "pth", "ckpt", "safetensors", "h5", "npz", "npy", "parquet", "png", "jpg", "log", "zip",
)
_EXT_ALT = "|".join(FILE_EXTS)
BACKTICK_RE = re.compile(r"`([^`\s]{2,200})`")
BARE_PATH_RE = re.compile(
    rf"(?<![\w/.`\-])((?:[\w.\-]+/)+[\w.\-*\[\]]+(?:\.(?:{_EXT_ALT}))?/?|[\w\-]+\.(?:py|ipynb|yaml|yml|json|csv|sh|toml))"
    rf"(?![\w`])",
)
LINES_RE = re.compile(r"\(\s*(\d[\d,]*)\s+lines?\b[^)]*\)|\b(\d[\d,]*)\s+lines?\s+of\s+code\b", re.I)
SIZE_RE = re.compile(r"\(\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|B)\s*\)", re.I)
