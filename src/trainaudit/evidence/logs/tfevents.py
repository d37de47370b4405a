"""TensorBoard event files: every scalar point, CRC-checked, without tensorboard or protobuf installed.

A record is `u64 length | u32 masked crc32c(length) | payload | u32 masked crc32c(payload)`; the
payload is an `Event` protobuf decoded here by hand (see wire.py). The hand decoder was chosen by
measurement: see docs/benchmarks.md.
"""

from __future__ import annotations

import struct
from pathlib import Path

from trainaudit.evidence.logs import crc as _crc
from trainaudit.evidence.logs.series import LogFile, Problem, Series
from trainaudit.evidence.logs.textutil import bytes_or_problem
from trainaudit.evidence.logs.wire import WireError, f32, f64, fields, signed64, varint

FORMAT = "tfevents"
_HEADER = struct.Struct("<QI")
_U32 = struct.Struct("<I").unpack_from
_F32 = struct.Struct("<f").unpack_from
_F64 = struct.Struct("<d").unpack_from

# TensorProto dtypes whose rank-0 value is a number.
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF, _DT_BOOL = 1, 2, 3, 9, 19, 10
_CONTENT_FORMAT = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q", _DT_HALF: "<e"}
_DATA_CLASS_SCALAR = 1
_MAX_PROBLEMS = 20  # per file; a badly damaged file is summarised, not listed record by record


def is_event_file(name: str) -> bool:
    return "tfevents" in name and not name.endswith((".py", ".json", ".txt", ".lock"))


def read_tfevents(path: Path, rel: str) -> LogFile:
    """Read every scalar of one event file; damaged records are skipped and reported, never raised."""
    out = LogFile(rel, FORMAT)
    data = bytes_or_problem(path, out)
    if data is None:
        return out
    _Reader(data, out).run()
    return out


class _Reader:
    def __init__(self, data: bytes, out: LogFile) -> None:
        self.data = data
        self.out = out
        self.series: dict[str, Series] = {}
        self.fast: dict[bytes, Series] = {}  # raw tag bytes -> series, for the fast path
        self.plugin: dict[str, str] = {}  # tag -> plugin name from the first metadata seen
        self.skipped = 0

    def problem(self, kind: str, message: str, offset: int) -> None:
        if len(self.out.problems) < _MAX_PROBLEMS:
            self.out.problems.append(Problem(kind, message, offset))
        self.skipped += 1

    def run(self) -> None:
        data, total = self.data, len(self.data)
        crc32c = _crc.crc32c
        header = _HEADER.unpack_from
        event = self._event
        pos = 0
        records = 0
        while pos < total:
            if total - pos < 12:
                self.problem("truncated", f"last record truncated: {total - pos} header bytes of 12", pos)
                break
            length, len_crc = header(data, pos)
            c = crc32c(data[pos:pos + 8])  # masked inline: this loop runs once per point
            if (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF != len_crc:
                nxt = self._resync(pos + 1)
                gap = (nxt if nxt is not None else total) - pos
                self.problem("corrupt-record", f"bad length CRC; skipped {gap} bytes", pos)
                if nxt is None:
                    break
                pos = nxt
                continue
            end = pos + 12 + length
            if end + 4 > total:
                self.problem(
                    "truncated", f"last record truncated: {total - pos - 12} of {length + 4} payload bytes", pos
                )
                break
            payload = data[pos + 12:end]
            c = crc32c(payload)
            if (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF != _U32(data, end)[0]:
                self.problem("corrupt-record", f"bad payload CRC; {length}-byte record skipped", pos)
            else:
                records += 1
                try:
                    event(payload)
                except (WireError, struct.error, IndexError) as exc:
                    self.problem("corrupt-record", f"undecodable event ({exc}); record skipped", pos)
            pos = end + 4
        self.out.records = records
        if self.skipped > _MAX_PROBLEMS:
            self.out.problems.append(Problem("corrupt-record", f"{self.skipped} damaged records in all"))
        self.out.series = list(self.series.values())

    def _resync(self, start: int) -> int | None:
        """Find the next offset whose 8 bytes carry a valid length CRC: a record boundary again."""
        data, total = self.data, len(self.data)
        crc32c, unmask = _crc.crc32c, _crc.unmask
        for p in range(start, total - 11):
            length, len_crc = _HEADER.unpack_from(data, p)
            if p + 16 + length <= total and crc32c(data[p:p + 8]) == unmask(len_crc):
                return p
        return None

    def _event(self, buf: bytes) -> None:
        """Decode an Event: wall_time (1, double), step (2, int64), summary (5)."""
        n = len(buf)
        # Fast path for the layout torch and TF write for one simple_value, checked byte by byte:
        # 09 <f64 wall_time> 10 <varint step> 2a <len> 0a <len> 0a <len> <tag> 15 <f32 value>
        if n > 17 and buf[0] == 0x09 and buf[9] == 0x10:
            p, step, shift = 10, 0, 0
            while True:
                b = buf[p]
                p += 1
                step |= (b & 0x7F) << shift
                if b < 0x80 or shift > 63:
                    break
                shift += 7
            if (
                p + 6 < n and buf[p] == 0x2A and p + 2 + buf[p + 1] == n and buf[p + 2] == 0x0A
                and p + 4 + buf[p + 3] == n and buf[p + 4] == 0x0A and buf[p + 5] < 0x80
            ):
                tag_end = p + 6 + buf[p + 5]
                if tag_end + 5 == n and buf[tag_end] == 0x15:
                    key = buf[p + 6:tag_end]
                    s = self.fast.get(key)
                    if s is None:
                        s = self.fast[key] = self._series(key.decode("utf-8", "replace"))
                    s.steps.append(step if step < 1 << 63 else step - (1 << 64))
                    s.values.append(_F32(buf, tag_end + 1)[0])
                    s.wall_times.append(_F64(buf, 1)[0])
                    return
        wall_time = 0.0
        step = 0
        summary: tuple[int, int] | None = None
        pos, end = 0, len(buf)
        while pos < end:
            key = buf[pos]
            if key == 0x09:  # wall_time, fixed64
                wall_time = _F64(buf, pos + 1)[0]
                pos += 9
            elif key == 0x10:  # step, varint
                step, pos = varint(buf, pos + 1)
                step = signed64(step)
            elif key == 0x2A:  # summary, length-delimited
                n, pos = varint(buf, pos + 1)
                summary = (pos, pos + n)
                pos += n
            else:  # anything else (file_version, graph_def, session_log, ...): skip it
                pos = _skip_field(buf, pos, end)
        if pos > end:
            raise WireError("field runs past the end of the event")
        if summary is not None:
            self._summary(buf, summary[0], summary[1], step, wall_time)

    def _summary(self, buf: bytes, pos: int, end: int, step: int, wall_time: float) -> None:
        while pos < end:
            if buf[pos] != 0x0A:  # Summary.value is field 1; nothing else is defined
                pos = _skip_field(buf, pos, end)
                continue
            n, pos = varint(buf, pos + 1)
            self._value(buf, pos, pos + n, step, wall_time)
            pos += n

    def _value(self, buf: bytes, pos: int, end: int, step: int, wall_time: float) -> None:
        # Fast path, the layout torch and TF write for simple_value: 0a <len> <tag> 15 <float32>.
        if buf[pos] == 0x0A and buf[pos + 1] < 0x80:
            tag_end = pos + 2 + buf[pos + 1]
            if tag_end + 5 == end and buf[tag_end] == 0x15:
                key = buf[pos + 2:tag_end]
                s = self.fast.get(key)
                if s is None:
                    s = self._series(key.decode("utf-8", "replace"))
                    self.fast[key] = s
                s.steps.append(step)
                s.values.append(_F32(buf, tag_end + 1)[0])
                s.wall_times.append(wall_time)
                return
        tag = ""
        value: float | None = None
        tensor: tuple[int, int] | None = None
        for num, wt, val in fields(buf, pos, end):
            if num == 1 and wt == 2:
                tag = buf[val[0]:val[1]].decode("utf-8", "replace")
            elif num == 2 and wt == 5:
                value = f32(val)
            elif num == 8 and wt == 2:
                tensor = val
            elif num == 9 and wt == 2:
                self._metadata(buf, val, tag_hint=tag)
        if value is None and tensor is not None:
            if self.plugin.get(tag, "scalars") != "scalars":
                return
            value = _rank0_number(buf, tensor[0], tensor[1])
        if value is None:
            return
        s = self._series(tag)
        s.steps.append(step)
        s.values.append(value)
        s.wall_times.append(wall_time)

    def _series(self, tag: str) -> Series:
        s = self.series.get(tag)
        if s is None:
            s = self.series[tag] = Series(tag, self.out.path)
        return s

    def _metadata(self, buf: bytes, span: tuple[int, int], tag_hint: str) -> None:
        """Remember which plugin owns a tag, so rank-0 tensors of other plugins are not read as scalars."""
        plugin = ""
        data_class = 0
        for num, wt, val in fields(buf, span[0], span[1]):
            if num == 1 and wt == 2:
                for n2, wt2, v2 in fields(buf, val[0], val[1]):
                    if n2 == 1 and wt2 == 2:
                        plugin = buf[v2[0]:v2[1]].decode("utf-8", "replace")
            elif num == 4 and wt == 0:
                data_class = val
        if data_class == _DATA_CLASS_SCALAR:
            plugin = "scalars"
        if plugin and tag_hint not in self.plugin:
            self.plugin[tag_hint] = plugin


def _skip_field(buf: bytes, pos: int, end: int) -> int:
    """Skip one field of any wire type; returns the next position."""
    key, p = varint(buf, pos)
    wt = key & 7
    if wt == 0:
        _, p = varint(buf, p)
    elif wt == 1:
        p += 8
    elif wt == 2:
        n, p = varint(buf, p)
        p += n
    elif wt == 5:
        p += 4
    else:
        raise WireError(f"unsupported wire type {wt}")
    if p > end:
        raise WireError("field runs past the end of its message")
    return p


def _rank0_number(buf: bytes, pos: int, end: int) -> float | None:
    """The single value of a rank-0 numeric TensorProto, or None for anything else."""
    dtype = 0
    content: tuple[int, int] | None = None
    vals: list[float] = []
    for num, wt, val in fields(buf, pos, end):
        if num == 1 and wt == 0:
            dtype = val
        elif num == 2 and wt == 2:
            for dnum, _dwt, _dval in fields(buf, val[0], val[1]):
                if dnum == 2:  # TensorShapeProto.dim: rank > 0
                    return None
        elif num == 4 and wt == 2:
            content = val
        elif num == 5:  # float_val, packed or not
            vals.extend(_floats(buf, wt, val, 4))
        elif num == 6:  # double_val
            vals.extend(_floats(buf, wt, val, 8))
        elif num in (7, 10, 11) and dtype != _DT_HALF:  # int_val, int64_val, bool_val
            vals.extend(_ints(buf, wt, val))
        elif num == 13 and dtype == _DT_HALF:  # half_val: float16 bits in int32 varints
            vals.extend(struct.unpack("<e", (int(b) & 0xFFFF).to_bytes(2, "little"))[0] for b in _ints(buf, wt, val))
    if content is not None and dtype in _CONTENT_FORMAT:
        fmt = _CONTENT_FORMAT[dtype]
        raw = buf[content[0]:content[1]]
        if len(raw) != struct.calcsize(fmt):
            return None
        return float(struct.unpack(fmt, raw)[0])
    if len(vals) != 1 or dtype not in (*_CONTENT_FORMAT, _DT_BOOL):
        return None
    return float(vals[0])


def _floats(buf: bytes, wt: int, val: object, width: int) -> list[float]:
    if wt == 2:
        start, stop = val  # type: ignore[misc]
        fmt = f"<{(stop - start) // width}{'f' if width == 4 else 'd'}"
        return list(struct.unpack(fmt, buf[start:stop]))
    if (wt, width) in ((5, 4), (1, 8)):
        return [f32(val) if width == 4 else f64(val)]  # type: ignore[arg-type]
    return []


def _ints(buf: bytes, wt: int, val: object) -> list[int]:
    if wt == 0:
        return [signed64(val)]  # type: ignore[arg-type]
    if wt == 2:
        start, stop = val  # type: ignore[misc]
        out = []
        while start < stop:
            v, start = varint(buf, start)
            out.append(signed64(v))
        return out
    return []
