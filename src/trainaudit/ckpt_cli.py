"""`trainaudit ckpt FILE`: what a checkpoint holds and whether loading it is safe, without loading it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainaudit.evidence.checkpoints import Checkpoint, read_checkpoint

MAX_ROWS = 2000  # text output lists at most this many tensors


def _summary(ckpt: Checkpoint) -> dict[str, Any]:
    model = ckpt.model_tensors()
    params = ckpt.parameter_count
    return {
        "path": ckpt.path,
        "format": ckpt.format,
        "size_bytes": ckpt.size,
        "safe_to_load": not ckpt.unsafe,
        "unsafe_globals": [{"module": u.module, "name": u.name, "where": u.where} for u in ckpt.unsafe],
        "problems": list(ckpt.problems),
        "top_level_keys": ckpt.top_keys,
        "metadata": ckpt.metadata,
        "shards": ckpt.shards,
        "tensor_count": len(ckpt.tensors),
        "tensor_bytes": sum(t.nbytes for t in ckpt.tensors.values()),
        "model_tensor_count": len(model),
        "model_parameters": params,
        "tensors": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "numel": t.numel,
                     "parameter": t.is_parameter} for t in ckpt.tensors.values()],
    }


def render_ckpt(path: str | Path, fmt: str = "text") -> str:
    """Describe one checkpoint as text or JSON; unreadable files are described, never raised."""
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown format {fmt!r} (text or json)")
    ckpt = read_checkpoint(Path(path), str(path))
    data = _summary(ckpt)
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    return _text(data)


def _text(d: dict[str, Any]) -> str:
    lines = [f"{d['path']}: {d['format']}, {d['size_bytes']:,} bytes"]
    if d["unsafe_globals"]:
        lines.append(f"UNSAFE: loading with torch.load(weights_only=False) would import and call "
                     f"{len(d['unsafe_globals'])} global(s):")
        lines += [f"  {g['module']}.{g['name']}  (in {g['where']})" for g in d["unsafe_globals"]]
    else:
        lines.append("safety: no global outside the weights allowlist")
    lines += [f"problem: {p}" for p in d["problems"]]
    if d["top_level_keys"]:
        lines.append(f"top-level keys: {', '.join(d['top_level_keys'][:30])}")
    for key, value in d["metadata"].items():
        text = json.dumps(value)
        lines.append(f"{key}: {text if len(text) <= 200 else text[:200] + '...'}")
    if d["shards"]:
        lines.append(f"shards: {', '.join(d['shards'])}")
    lines.append(f"tensors: {d['tensor_count']:,} ({d['tensor_bytes']:,} bytes); model weights: "
                 f"{d['model_tensor_count']:,} tensors, {d['model_parameters']:,} parameters")
    rows = d["tensors"][:MAX_ROWS]
    width = max((len(t["name"]) for t in rows), default=0)
    for t in rows:
        lines.append(f"  {t['name']:<{width}}  {t['dtype']:<9} {t['shape']}")
    if len(d["tensors"]) > MAX_ROWS:
        lines.append(f"  ... {len(d['tensors']) - MAX_ROWS:,} more")
    return "\n".join(lines) + "\n"
