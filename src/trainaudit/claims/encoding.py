"""Read a status document safely: size cap, binary detection, UTF-8 decoding and mojibake repair."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 2_000_000  # status documents are a few hundred KB at most; larger files are not prose

# Runs of non-ASCII characters: UTF-8 bytes decoded with a single-byte code page become such runs.
_RUN = re.compile(r"[^\x00-\x7f]{2,}")
# Code pages whose wrong decoding of UTF-8 is common: Mac Roman (old macOS tools), cp1252 (Windows).
_CODECS = ("mac_roman", "cp1252")


@dataclass
class Text:
    text: str | None
    encoding: str = "utf-8"
    repaired: str | None = None
    skipped: str | None = None


def read_document(path: Path, max_bytes: int = MAX_BYTES) -> Text:
    """Never raises for unreadable content: the reason comes back in `skipped`."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Text(None, skipped=f"cannot read: {exc.strerror or exc}")
    if size > max_bytes:
        return Text(None, skipped=f"{size / 1e6:.1f} MB exceeds the {max_bytes / 1e6:.0f} MB cap for status documents")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Text(None, skipped=f"cannot read: {exc.strerror or exc}")
    if b"\x00" in raw[:8192]:
        return Text(None, skipped="binary file (NUL bytes), not a text document")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        encoding = "cp1252 (not valid UTF-8)"
    fixed, note = repair_mojibake(text)
    return Text(fixed, encoding=encoding, repaired=note)


def _encode_single_byte(run: str, codec: str) -> bytes | None:
    try:
        return run.encode(codec)
    except UnicodeEncodeError:
        if codec != "cp1252":
            return None
    # Lenient cp1252 decoders keep its five undefined bytes as C1 controls; map them back too.
    out = bytearray()
    for ch in run:
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return None
            out.append(ord(ch))
    return bytes(out)


def _fix_run(run: str, codec: str) -> str | None:
    raw = _encode_single_byte(run, codec)
    if raw is None:
        return None
    try:
        fixed = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return fixed if fixed != run else None


def repair_mojibake(text: str) -> tuple[str, str | None]:
    """Undo UTF-8 read as Mac Roman or cp1252, one non-ASCII run at a time.

    A run is replaced only when its bytes in that code page are valid UTF-8, which text that was
    genuinely written in the code page almost never is; the code page that repairs most runs is used.
    ftfy was measured on the seed documents and does not undo Mac Roman (it turns `‚úÖ` into `'úÖ`).
    """
    runs = _RUN.findall(text)
    if not runs:
        return text, None
    best, best_n = None, 0
    for codec in _CODECS:
        n = sum(1 for r in set(runs) if _fix_run(r, codec) is not None)
        if n > best_n:
            best, best_n = codec, n
    if best is None:
        return text, None
    count = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal count
        fixed = _fix_run(m.group(0), best)
        if fixed is None:
            return m.group(0)
        count += 1
        return fixed

    out = _RUN.sub(sub, text)
    name = {"mac_roman": "Mac Roman", "cp1252": "Windows-1252"}[best]
    return out, f"repaired {count} mojibake sequence{'s' if count != 1 else ''} (UTF-8 read as {name})"
