"""Malicious checkpoints: every payload is named under unsafe-pickle, and none of them runs."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ckpt_tools import findings, replace_member

from trainaudit.evidence.checkpoints import read_checkpoint


class _Call:
    """Pickles as a call of `fn(*args)`: what a hostile checkpoint embeds."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _os_system(marker: Path) -> bytes:
    return pickle.dumps({"w": _Call(os.system, f"touch {marker}")}, protocol=2)


def _exec(marker: Path) -> bytes:
    return pickle.dumps({"w": _Call(exec, f"open({str(marker)!r}, 'w').write('x')")}, protocol=2)


def _subprocess(marker: Path) -> bytes:
    return pickle.dumps({"w": _Call(subprocess.check_call, ["touch", str(marker)])}, protocol=2)


def _eval_stack_global_memo(marker: Path) -> bytes:
    """builtins.eval reached through STACK_GLOBAL, with both names fetched back out of the memo."""
    code = f"open({str(marker)!r}, 'w').write('x')".encode()
    return (b"\x80\x04" + b"\x8c\x08builtins\x94" + b"\x8c\x04eval\x94" + b"0" + b"0"  # push, memoize, pop
            + b"}\x94" + b"\x8c\x01w"  # the dict and its key
            + b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL -> builtins.eval
            + b"\x8c" + bytes([len(code)]) + code + b"\x85R" + b"s.")


def _partial_chain(marker: Path) -> bytes:
    """functools.partial(functools.partial(os.system, cmd))() : the call hides behind two wrappers."""
    return (b"\x80\x02}X\x01\x00\x00\x00w"
            b"cfunctools\npartial\n" b"cfunctools\npartial\n" b"cposix\nsystem\n"
            + b"X" + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode()
            + b"\x86R\x85R)Rs.")


PAYLOADS = {
    "os.system": (_os_system, {"posix.system"}),
    "exec": (_exec, {"builtins.exec"}),
    "subprocess": (_subprocess, {"subprocess.check_call"}),
    "eval-stack-global-memo": (_eval_stack_global_memo, {"builtins.eval"}),
    "partial-chain": (_partial_chain, {"functools.partial", "posix.system"}),
}


def _payload_is_live(payload: bytes, marker: Path) -> None:
    """Prove the payload really runs when unpickled normally (in a child process), then clean up."""
    subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=payload, check=False, capture_output=True, timeout=60)
    assert marker.exists(), "the payload did not run under plain pickle; the test would prove nothing"
    marker.unlink()


def _benign_zip(path: Path) -> None:
    torch.save({"w": torch.ones(3)}, path)


@pytest.mark.skipif(os.name != "posix", reason="payloads use posix.system / touch")
@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_payload_in_data_pkl_is_named_and_never_runs(tmp_path: Path, kind: str) -> None:
    make, expected = PAYLOADS[kind]
    marker = tmp_path / "PWNED"
    payload = make(marker)
    _payload_is_live(payload, marker)
    project = tmp_path / "proj"
    project.mkdir()
    ckpt_path = project / "model.pt"
    _benign_zip(ckpt_path)
    replace_member(ckpt_path, "/data.pkl", payload)

    ckpt = read_checkpoint(ckpt_path, "model.pt")
    assert {u.dotted for u in ckpt.unsafe} == expected
    assert all(u.where.endswith("/data.pkl") for u in ckpt.unsafe)
    found = findings(project, "unsafe-pickle")
    assert [(f.rule, f.path, f.severity.value) for f in found] == [("unsafe-pickle", "model.pt", "error")]
    assert all(name in found[0].message for name in expected)
    assert "executes code" in found[0].message
    assert not marker.exists()


@pytest.mark.skipif(os.name != "posix", reason="payload uses posix.system")
def test_nested_pickle_member_and_non_standard_extension(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    payload = _os_system(marker)
    _payload_is_live(payload, marker)
    project = tmp_path / "proj"
    (project / "out").mkdir(parents=True)
    nested = project / "out" / "clean_name.pt"
    _benign_zip(nested)
    replace_member(nested, "/byteorder", b"little", extra={"extra/hooks.pkl": payload})
    odd = project / "out" / "weights.model"  # no checkpoint extension: found by sniffing
    _benign_zip(odd)
    replace_member(odd, "/data.pkl", payload)

    found = findings(project, "unsafe-pickle")
    assert [(f.path, f.evidence["globals"]) for f in found] == [
        ("out/clean_name.pt", [{"module": "posix", "name": "system", "where": "clean_name/extra/hooks.pkl"}]),
        ("out/weights.model", [{"module": "posix", "name": "system", "where": "weights/data.pkl"}]),
    ]
    assert not marker.exists()


def test_legacy_format_payload(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(2), "hook": _Call(os.system, f"touch {marker}")}, path,
               _use_new_zipfile_serialization=False, pickle_module=pickle)
    ckpt = read_checkpoint(path)
    assert [u.dotted for u in ckpt.unsafe] == ["posix.system"]
    assert ckpt.tensors["w"].shape == (2,)  # reading went on past the payload
    assert not marker.exists()


def test_benign_checkpoints_are_silent(tmp_path: Path) -> None:
    torch.save({"state_dict": torch.nn.Linear(2, 2).state_dict(), "epoch": 1}, tmp_path / "a.pt")
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "b.pth", _use_new_zipfile_serialization=False)
    assert findings(tmp_path, "unsafe-pickle") == []


def test_blocked_global_is_never_imported(tmp_path: Path) -> None:
    """A global naming a module that is not imported yet stays unimported after reading."""
    name = "trainaudit_never_imported_probe"
    payload = b"\x80\x02}X\x01\x00\x00\x00wc" + name.encode() + b"\nboom\n)Rs."
    path = tmp_path / "m.pt"
    _benign_zip(path)
    replace_member(path, "/data.pkl", payload)
    ckpt = read_checkpoint(path)
    assert [u.dotted for u in ckpt.unsafe] == [f"{name}.boom"]
    assert name not in sys.modules
