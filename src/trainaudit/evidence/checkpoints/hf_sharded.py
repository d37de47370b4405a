"""Sharded Hugging Face models: `*.index.json` with a `weight_map` from tensor name to shard file."""

from __future__ import annotations

import json
from pathlib import Path

from trainaudit.evidence.checkpoints.limits import MAX_INDEX_BYTES
from trainaudit.evidence.checkpoints.model import Checkpoint
from trainaudit.evidence.checkpoints.safetensors_header import read_safetensors
from trainaudit.evidence.checkpoints.torch_zip import read_torch_zip, unsafe_member_name


def read_weight_map(path: Path) -> tuple[dict[str, str] | None, dict, str | None]:
    """(weight_map, metadata, problem) of an index file."""
    if path.stat().st_size > MAX_INDEX_BYTES:
        return None, {}, f"index is larger than {MAX_INDEX_BYTES // 2**20} MB"
    try:
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, {}, f"index is not JSON ({exc})"
    wmap = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(wmap, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wmap.items()):
        return None, {}, "index has no weight_map of name -> shard file"
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return wmap, meta, None


def read_hf_sharded(path: Path, ckpt: Checkpoint) -> None:
    """Read every shard the index names (headers / pickles only) and merge their tensors."""
    wmap, meta, problem = read_weight_map(path)
    if wmap is None:
        ckpt.problems.append(problem or "unreadable index")
        return
    ckpt.metadata.update({str(k): v for k, v in meta.items() if isinstance(v, (int, float, str))})
    by_shard: dict[str, set[str]] = {}
    for name, shard in wmap.items():
        by_shard.setdefault(shard, set()).add(name)
    for shard, names in sorted(by_shard.items()):
        if unsafe_member_name(shard) or "/" in shard.replace("\\", "/"):
            ckpt.problems.append(f"shard name {shard!r} leaves the model folder")
            continue
        shard_path = path.parent / shard
        ckpt.shards.append(shard)
        if not shard_path.is_file():
            ckpt.problems.append(f"shard {shard} named by the index is missing")
            continue
        part = Checkpoint(path=shard, format="shard", file=shard_path)
        if shard.endswith(".safetensors"):
            read_safetensors(shard_path, part, names)
        else:
            read_torch_zip(shard_path, part)
        ckpt.unsafe.extend(part.unsafe)
        ckpt.problems.extend(f"{shard}: {p}" for p in part.problems)
        for name in names:
            t = part.tensors.get(name)
            if t is None:
                ckpt.problems.append(f"tensor {name} is mapped to {shard} but not stored there")
            else:
                ckpt.tensors[name] = t
