"""The `checkpoints` evidence: every checkpoint the spec names or the project holds, read once."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trainaudit.context import provider
from trainaudit.evidence.checkpoints.hf_sharded import read_weight_map
from trainaudit.evidence.checkpoints.model import Checkpoint
from trainaudit.evidence.checkpoints.reader import read_checkpoint, sniff

if TYPE_CHECKING:
    from trainaudit.context import AuditContext

# Extensions that name a checkpoint whatever is inside; an unreadable one is reported.
CLAIMED = (".pt", ".pth", ".ckpt", ".safetensors", ".tar")
# Extensions shared with other content: kept only when the content is a checkpoint.
AMBIGUOUS = (".bin", ".pkl", ".pickle", ".index.json", ".model", ".weights", ".h5")
# Content never worth sniffing.
NOT_CHECKPOINTS = (".md", ".txt", ".rst", ".csv", ".tsv", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini",
                   ".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".html", ".css", ".js", ".sh", ".log",
                   ".ipynb", ".py", ".lock", ".gitignore", ".in", ".xml")


@dataclass
class CheckpointEvidence:
    """Checkpoints found (read, with their problems) and spec globs that matched nothing."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    unmatched_globs: list[str] = field(default_factory=list)

    def by_path(self, path: str) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.path == path), None)


def _glob_match(rel: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern.replace("**/", ""))


def find_checkpoints(root: Path, files: list[str], globs: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(checkpoint paths, unmatched globs): by the spec's globs, else by extension and content."""
    if globs:
        chosen = [rel for rel in files if any(_glob_match(rel, g) for g in globs)]
        unmatched = [g for g in globs if not any(_glob_match(rel, g) for rel in files)]
        return sorted(chosen), unmatched
    chosen = []
    shards: set[str] = set()  # read through their index, not a second time on their own
    for rel in files:
        name = rel.rsplit("/", 1)[-1].lower()
        if name.endswith(CLAIMED):
            if not name.endswith(".tar") or sniff(root / rel):
                chosen.append(rel)
        elif name.endswith(AMBIGUOUS) or not name.endswith(NOT_CHECKPOINTS):
            fmt = sniff(root / rel)
            if fmt == "hf-sharded":
                wmap = read_weight_map(root / rel)[0]
                if wmap is None:
                    continue
                folder = rel.rpartition("/")[0]
                shards.update(f"{folder}/{s}" if folder else s for s in wmap.values())
            if fmt is not None:
                chosen.append(rel)
    return sorted(p for p in chosen if p not in shards), []


@provider("checkpoints")
def collect_checkpoints(ctx: AuditContext) -> CheckpointEvidence:
    paths, unmatched = find_checkpoints(ctx.root, ctx.files.other, ctx.spec.checkpoints)
    evidence = CheckpointEvidence(unmatched_globs=unmatched)
    for rel in paths:
        ctx.progress(f"reading checkpoint {rel}")
        evidence.checkpoints.append(read_checkpoint(ctx.root / rel, rel))
    return evidence
