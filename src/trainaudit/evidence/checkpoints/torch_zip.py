"""PyTorch zip checkpoints (torch.save since 1.6, Lightning .ckpt, TorchScript): the pickle and member table only."""

from __future__ import annotations

import struct
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from trainaudit.evidence.checkpoints.interpret import fill_from_pickle
from trainaudit.evidence.checkpoints.limits import MAX_COMPRESSION_RATIO, MAX_PICKLE_BYTES, MAX_ZIP_MEMBERS
from trainaudit.evidence.checkpoints.model import Checkpoint, StorageRef
from trainaudit.evidence.checkpoints.safe_pickle import is_pickle_head, load_pickle

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # the 30-byte zip local file header
# A TorchScript archive is read by torch.jit.load's C++ unpickler (torch.load hands it over), which resolves only
# the scripted classes (`__torch__.*`) and its own list and tensor builders, never an arbitrary Python global:
# those are inert records here, not unsafe imports.
TORCHSCRIPT_GLOBALS = ("__torch__", "torch.jit._pickle")


def unsafe_member_name(name: str) -> bool:
    """Names an extractor would write outside its target: absolute, drive-lettered, or climbing with '..'."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\x00" in name:
        return True
    return ".." in PurePosixPath(name.replace("\\", "/")).parts


def member_problems(infos: list[zipfile.ZipInfo], file_size: int) -> list[str]:
    """Structural hazards of the member table: count, traversal, declared sizes, compression ratio."""
    problems: list[str] = []
    if len(infos) > MAX_ZIP_MEMBERS:
        problems.append(f"zip declares {len(infos)} members (more than {MAX_ZIP_MEMBERS}); not read")
        return problems
    for info in infos:
        if unsafe_member_name(info.filename):
            problems.append(f"member name {info.filename!r} points outside the archive (path traversal)")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size > file_size:
                problems.append(f"member {info.filename} declares {info.file_size} bytes in a file of {file_size}")
        elif info.file_size > 1_000_000 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            problems.append(
                f"member {info.filename} inflates {info.compress_size} bytes to {info.file_size} "
                f"(ratio over {MAX_COMPRESSION_RATIO}: zip bomb)")
        if info.compress_size > file_size:
            problems.append(f"member {info.filename} declares {info.compress_size} compressed bytes in a file "
                            f"of {file_size}")
    return problems


def _data_offset(fh, info: zipfile.ZipInfo) -> int | None:
    """Absolute offset of a stored member's bytes, from its local header."""
    fh.seek(info.header_offset)
    raw = fh.read(_LOCAL_HEADER.size)
    if len(raw) < _LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
        return None
    fields = _LOCAL_HEADER.unpack(raw)
    return info.header_offset + _LOCAL_HEADER.size + fields[10] + fields[11]


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with zf.open(info) as fh:
        return fh.read(limit + 1)


def read_torch_zip(path: Path, ckpt: Checkpoint) -> None:
    """Fill `ckpt` from a zip checkpoint, never reading tensor data."""
    size = path.stat().st_size
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        ckpt.problems.append(f"not a readable zip archive ({exc})")
        return
    with zf, path.open("rb") as fh:
        infos = zf.infolist()
        problems = member_problems(infos, size)
        ckpt.problems.extend(problems)
        if problems:
            return  # a hostile member table is not read further
        by_name = {i.filename: i for i in infos}
        pickles = [i for i in infos if i.filename == "data.pkl" or (i.filename.endswith("/data.pkl")
                   and i.filename.count("/") == 1)]
        if len(pickles) != 1:
            ckpt.problems.append(f"zip holds {len(pickles)} top-level data.pkl members; expected one")
            _scan_other_pickles(zf, infos, None, ckpt)
            return
        pkl = pickles[0]
        prefix = pkl.filename[: -len("data.pkl")]
        is_script = f"{prefix}constants.pkl" in by_name or any(n.startswith(f"{prefix}code/") for n in by_name)
        if is_script:
            ckpt.format = "torchscript"
        byteorder = by_name.get(f"{prefix}byteorder")
        if byteorder is not None and byteorder.file_size < 16:
            ckpt.metadata["byteorder"] = zf.read(byteorder).decode("ascii", "replace").strip()
        for vname in (f"{prefix}.data/version", f"{prefix}version"):
            if vname in by_name and by_name[vname].file_size < 64:
                ckpt.metadata["serialization_version"] = zf.read(by_name[vname]).decode("ascii", "replace").strip()
                break
        if pkl.file_size > MAX_PICKLE_BYTES:
            ckpt.problems.append(f"{pkl.filename} declares {pkl.file_size} bytes; larger than "
                                 f"{MAX_PICKLE_BYTES // 2**20} MB of structure is not read")
            return
        try:
            data = _read_member(zf, pkl, MAX_PICKLE_BYTES)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            ckpt.problems.append(f"{pkl.filename} cannot be read ({exc})")
            return
        extra = TORCHSCRIPT_GLOBALS if is_script else ()
        result = load_pickle(data, pkl.filename, extra)

        def locate(ref: StorageRef) -> tuple[Path | None, int | None, str | None, int]:
            info = by_name.get(f"{prefix}data/{ref.key}")
            if info is None:
                return None, None, None, 0
            if info.compress_type != zipfile.ZIP_STORED:
                return path, None, info.filename, info.file_size
            offset = _data_offset(fh, info)
            if offset is None:
                return None, None, None, 0
            return path, offset, None, max(0, min(info.file_size, size - offset))

        fill_from_pickle(ckpt, result, locate)
        if is_script:  # the archive is the module itself: its attribute paths are its state_dict names
            ckpt.tensors = {n: replace(t, nest=(), key=n) for n, t in ckpt.tensors.items()}
        _scan_other_pickles(zf, infos, prefix, ckpt)


def _scan_other_pickles(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], prefix: str | None,
                        ckpt: Checkpoint) -> None:
    """Any other member that is a pickle is read the same careful way: a payload may hide there."""
    for info in infos:
        name = info.filename
        if prefix is not None and (name == f"{prefix}data.pkl" or name.startswith(f"{prefix}data/")):
            continue
        if info.file_size < 4 or info.file_size > MAX_PICKLE_BYTES or info.is_dir():
            continue
        try:
            with zf.open(info) as fh:
                head = fh.read(2)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
            continue
        if not is_pickle_head(head) and not name.endswith((".pkl", ".pickle")):
            continue
        try:
            data = _read_member(zf, info, MAX_PICKLE_BYTES)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
            continue
        extra = TORCHSCRIPT_GLOBALS if ckpt.format == "torchscript" else ()
        ckpt.unsafe.extend(load_pickle(data, name, extra).unsafe)
