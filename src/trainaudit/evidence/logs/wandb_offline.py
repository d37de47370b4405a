"""W&B offline runs: history records of `run-*.wandb` and the final `files/wandb-summary.json`.

`run-<id>.wandb` is a LevelDB-log style file: a 7-byte header (":W&B", u16 0xBEE1, u8 version),
then 32 KiB blocks of chunks `u32 crc | u16 length | u8 type | data`, where crc is zlib CRC-32 of
the type byte and data, and type is FULL/FIRST/MIDDLE/LAST. Joined chunks are protobuf `Record`s;
a history record (field 2) holds items (field 1) with key (1), nested_key (2) and value_json (16).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path

from trainaudit.evidence.logs.series import LogFile, Problem, Series
from trainaudit.evidence.logs.textutil import bytes_or_problem, number, text_or_problem
from trainaudit.evidence.logs.wire import WireError, fields

FORMAT = "wandb"
SUMMARY_FORMAT = "wandb-summary"
_MAGIC = b":W&B" + struct.pack("<H", 0xBEE1)
_BLOCK = 32768
_CHUNK = struct.Struct("<IHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}
_RECORD_HISTORY = 2
_SPECIAL_KEYS = frozenset({"_step", "_runtime", "_timestamp"})


def is_wandb_log(name: str) -> bool:
    return name.startswith("run-") and name.endswith(".wandb")


def read_wandb(path: Path, rel: str) -> LogFile:
    out = LogFile(rel, FORMAT)
    data = bytes_or_problem(path, out)
    if data is None:
        return out
    if len(data) < 7 or data[:6] != _MAGIC:
        out.problems.append(Problem("unrecognised", "no ':W&B' header: not a W&B run file"))
        return out
    series: dict[str, Series] = {}
    for offset, record in _records(data, out):
        out.records += 1
        try:
            _record(record, rel, series)
        except (WireError, UnicodeDecodeError) as exc:
            out.problems.append(Problem("corrupt-record", f"undecodable record ({exc})", offset))
    out.series = list(series.values())
    return out


def _records(data: bytes, out: LogFile):
    """Yield (offset, record bytes), joining FIRST/MIDDLE/LAST chunks; damage is reported and skipped."""
    pos, total = 7, len(data)
    parts: list[bytes] = []
    start = pos
    while pos < total:
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < 7:  # block trailer: zero padding
            pos += left_in_block
            continue
        if total - pos < 7:
            if any(data[pos:]):
                out.problems.append(Problem("truncated", "last chunk header truncated", pos))
            break
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        if crc == 0 and length == 0 and kind == 0:  # preallocated zeros at the end of a live file
            pos += left_in_block
            continue
        chunk = data[pos + 7:pos + 7 + length]
        if len(chunk) < length:
            out.problems.append(Problem("truncated", f"last record truncated: {len(chunk)} of {length} bytes", pos))
            break
        if kind not in _TYPE_CRC or zlib.crc32(chunk, _TYPE_CRC[kind]) != crc:
            out.problems.append(Problem("corrupt-record", "bad chunk CRC; skipped to the next block", pos))
            parts = []
            pos += left_in_block  # chunks never span blocks, so the next block starts clean
            continue
        if kind == _FULL:
            yield pos, chunk
            parts = []
        elif kind == _FIRST:
            parts, start = [chunk], pos
        elif parts and kind == _MIDDLE:
            parts.append(chunk)
        elif parts and kind == _LAST:
            parts.append(chunk)
            yield start, b"".join(parts)
            parts = []
        else:
            out.problems.append(Problem("corrupt-record", "continuation chunk without a first chunk", pos))
        pos += 7 + length
    if parts:
        out.problems.append(Problem("truncated", "last record truncated: no final chunk", start))


def _record(buf: bytes, rel: str, series: dict[str, Series]) -> None:
    for num, wt, val in fields(buf):
        if num == _RECORD_HISTORY and wt == 2:
            _history(buf, val[0], val[1], rel, series)  # type: ignore[index]


def _history(buf: bytes, start: int, end: int, rel: str, series: dict[str, Series]) -> None:
    items: dict[str, object] = {}
    step_num: int | None = None
    for num, wt, val in fields(buf, start, end):
        if num == 1 and wt == 2:
            key, value = _item(buf, val[0], val[1])  # type: ignore[index]
            if key:
                items[key] = value
        elif num == 2 and wt == 2:  # HistoryStep { num = 1 }
            for n2, wt2, v2 in fields(buf, val[0], val[1]):  # type: ignore[index]
                if n2 == 1 and wt2 == 0:
                    step_num = v2  # type: ignore[assignment]
    step = _int(items.get("_step"), step_num)
    wall = number(items.get("_timestamp"))
    for key, raw in items.items():
        value = number(raw)
        if key in _SPECIAL_KEYS or value is None:
            continue
        s = series.get(key)
        if s is None:
            s = series[key] = Series(key, rel)
        s.add(step, value, wall if wall is not None and math.isfinite(wall) else None)


def _item(buf: bytes, start: int, end: int) -> tuple[str, object]:
    key_parts: list[str] = []
    value: object = None
    for num, wt, val in fields(buf, start, end):
        if wt != 2:
            continue
        text = buf[val[0]:val[1]].decode("utf-8")  # type: ignore[index]
        if num in (1, 2):  # key, or nested_key parts for dotted keys
            key_parts.append(text)
        elif num == 16:
            value = _json_value(text)
    return ".".join(key_parts), value


def _json_value(text: str) -> object:
    try:
        return json.loads(text)  # wandb writes NaN/Infinity bare, as Python's json does
    except json.JSONDecodeError:
        return None


def _int(value: object, fallback: int | None) -> int:
    num = number(value)
    if num is not None and math.isfinite(num):
        return int(num)
    return fallback or 0


def read_wandb_summary(path: Path, rel: str) -> LogFile:
    """The final summary: one point per numeric key (a value without history, not a series)."""
    out = LogFile(rel, SUMMARY_FORMAT)
    text = text_or_problem(path, out)
    if text is None:
        return out
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as exc:
        out.problems.append(Problem("unreadable", f"not valid JSON: {exc.msg}", exc.lineno))
        return out
    if not isinstance(summary, dict):
        out.problems.append(Problem("unrecognised", "summary is not a JSON object"))
        return out
    out.summary = summary
    out.records = 1
    step = _int(summary.get("_step"), 0)
    for key, raw in summary.items():
        value = number(raw)
        if key not in _SPECIAL_KEYS and value is not None:
            out.series.append(Series(key, rel, [step], [value]))
    return out
