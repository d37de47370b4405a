"""TensorBoard event files: values agree with tensorboard's own reader; damage is skipped and reported."""

from __future__ import annotations

import math
import struct

import pytest
from logfixtures import event_file, write_tb_scalars

from trainaudit.evidence.logs import crc
from trainaudit.evidence.logs.tfevents import read_tfevents


def _by_tag(log):
    return {s.tag: s for s in log.series}


def test_simple_values_match_event_accumulator(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = write_tb_scalars(tmp_path, {"train/loss": [1.0, 0.5, 0.25, 0.125], "val/acc": [0.1, 0.9]},
                            start_step=7)
    log = read_tfevents(path, "events")
    assert log.problems == []
    ea = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    ea.Reload()
    got = _by_tag(log)
    assert set(got) == set(ea.Tags()["scalars"]) == {"train/loss", "val/acc"}
    for tag, s in got.items():
        ref = ea.Scalars(tag)
        assert s.steps == [e.step for e in ref]
        assert s.values == [e.value for e in ref]
        assert s.wall_times == [e.wall_time for e in ref]
    assert got["train/loss"].steps == [7, 8, 9, 10]
    assert got["train/loss"].source == "events"


def test_every_point_is_kept_past_the_tensorboard_default_sample(tmp_path):
    n = 10_050  # EventAccumulator's default keeps a 10,000-point reservoir sample per tag
    path = write_tb_scalars(tmp_path, {"loss": [i * 0.5 for i in range(n)]})
    (s,) = read_tfevents(path, "e").series
    assert s.steps == list(range(n))
    assert s.values == [i * 0.5 for i in range(n)]


def test_new_style_rank0_float_val_tensor_from_torch(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for i, v in enumerate([0.75, 0.5, 0.25]):
        w.add_scalar("train/loss", v, i, new_style=True)
    w.close()
    (s,) = read_tfevents(event_file(tmp_path), "e").series
    assert (s.tag, s.steps, s.values) == ("train/loss", [0, 1, 2], [0.75, 0.5, 0.25])


def test_rank0_tensor_from_tensorboard_summary_writer(tmp_path):
    from tensorboard.summary import Writer

    w = Writer(str(tmp_path))
    w.add_scalar("val/acc", 0.5, step=3)
    w.add_scalar("val/acc", 0.625, step=4)
    w.close()
    (s,) = read_tfevents(event_file(tmp_path), "e").series
    assert (s.tag, s.steps, s.values) == ("val/acc", [3, 4], [0.5, 0.625])


def _write_events(tmp_path, events):
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(tmp_path))
    for e in events:
        w.add_event(e)
    w.close()
    return event_file(tmp_path)


def test_tensor_scalars_double_val_content_and_non_scalars(tmp_path):
    import numpy as np
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    def ev(step, **value):
        return event_pb2.Event(step=step, wall_time=100.0 + step,
                               summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(**value)]))

    scalars = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    text = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
    events = [
        ev(1, tag="d", tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, double_val=[0.1]), metadata=scalars),
        ev(2, tag="d", tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, double_val=[0.2])),
        ev(1, tag="c32", tensor=tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, tensor_content=np.float32(1.5).tobytes())),
        ev(1, tag="c64", tensor=tensor_pb2.TensorProto(
            dtype=types_pb2.DT_DOUBLE, tensor_content=np.float64(-2.25).tobytes())),
        ev(1, tag="vector", tensor=tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)]))),
        ev(1, tag="note", tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"hi"]),
           metadata=text),
        ev(5, tag="big_step", simple_value=3.0),
        ev(-1, tag="neg_step", simple_value=4.0),
    ]
    log = read_tfevents(_write_events(tmp_path, events), "e")
    got = {s.tag: (s.steps, s.values) for s in log.series}
    assert got == {
        "d": ([1, 2], [0.1, 0.2]),
        "c32": ([1], [1.5]),
        "c64": ([1], [-2.25]),
        "big_step": ([5], [3.0]),
        "neg_step": ([-1], [4.0]),
    }
    assert log.problems == []


def test_nan_and_inf_values_are_kept(tmp_path):
    path = write_tb_scalars(tmp_path, {"loss": [1.0, float("nan"), float("inf")]})
    (s,) = read_tfevents(path, "e").series
    assert s.values[0] == 1.0 and math.isnan(s.values[1]) and s.values[2] == math.inf


def _records(path):
    """Byte offsets of each record in an event file."""
    data = path.read_bytes()
    pos, out = 0, []
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        out.append((pos, length))
        pos += 16 + length
    return data, out


def test_truncated_last_record_is_tolerated_and_reported(tmp_path):
    path = write_tb_scalars(tmp_path, {"loss": [1.0, 0.9, 0.8, 0.7]})
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    log = read_tfevents(path, "e")
    (s,) = log.series
    assert s.values == pytest.approx([1.0, 0.9, 0.8])
    assert [p.kind for p in log.problems] == ["truncated"]


def test_truncated_inside_header_is_reported(tmp_path):
    path = write_tb_scalars(tmp_path, {"loss": [1.0, 0.9]})
    data, recs = _records(path)
    last_start = recs[-1][0]
    path.write_bytes(data[: last_start + 5])
    log = read_tfevents(path, "e")
    assert log.series[0].values == [1.0]
    assert [(p.kind, p.offset) for p in log.problems] == [("truncated", last_start)]


def test_flipped_payload_crc_skips_only_that_record(tmp_path):
    path = write_tb_scalars(tmp_path, {"loss": [1.0, 0.9, 0.8, 0.7]})
    data, recs = _records(path)
    start, length = recs[2]  # record 0 is file_version; record 2 holds the second point
    damaged = bytearray(data)
    damaged[start + 12 + length] ^= 0xFF  # first byte of the payload CRC
    path.write_bytes(bytes(damaged))
    log = read_tfevents(path, "e")
    assert log.series[0].values == pytest.approx([1.0, 0.8, 0.7])
    assert [(p.kind, p.offset) for p in log.problems] == [("corrupt-record", start)]


def test_flipped_length_byte_resynchronises_at_the_next_record(tmp_path):
    path = write_tb_scalars(tmp_path, {"loss": [1.0, 0.9, 0.8, 0.7]})
    data, recs = _records(path)
    start, _ = recs[2]
    damaged = bytearray(data)
    damaged[start] ^= 0x40  # the length no longer matches its CRC
    path.write_bytes(bytes(damaged))
    log = read_tfevents(path, "e")
    assert log.series[0].values == pytest.approx([1.0, 0.8, 0.7])
    assert [(p.kind, p.offset) for p in log.problems] == [("corrupt-record", start)]


def test_random_bytes_yield_no_points_and_a_problem(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(bytes(range(256)) * 4)
    log = read_tfevents(path, "e")
    assert log.series == [] and log.records == 0
    assert log.problems and log.problems[0].kind == "corrupt-record"


def test_empty_file_has_no_records_and_no_problems(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"")
    log = read_tfevents(path, "e")
    assert (log.series, log.records, log.problems) == ([], 0, [])


def test_unreadable_path_is_a_problem_not_an_exception(tmp_path):
    log = read_tfevents(tmp_path / "missing", "missing")
    assert [p.kind for p in log.problems] == ["unreadable"]


def test_pure_python_crc_agrees_with_the_library_and_reads_files(tmp_path, monkeypatch):
    assert crc.crc32c_python(b"123456789") == 0xE3069283  # the CRC-32C check value
    blob = bytes(range(256)) * 3
    assert crc.crc32c_python(blob) == crc.crc32c(blob)
    path = write_tb_scalars(tmp_path, {"loss": [1.0, 0.5]})
    monkeypatch.setattr(crc, "crc32c", crc.crc32c_python)
    assert read_tfevents(path, "e").series[0].values == [1.0, 0.5]
