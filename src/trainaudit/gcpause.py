"""The cyclic garbage collector paused for the length of an audit, restored after."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """An audit holds every parsed tree (about 1 KB per source line) until it ends, and builds its facts as small
    containers: each full collection rescans all of them and frees next to nothing, since all of it stays alive
    until the audit ends. Pausing the collector took a 10,000-file audit from 15.7 s to 12.0 s of CPU. Reference
    counting still frees most garbage at once; cycles wait for the collector, whose state is restored after.
    The collector is per process: a host running other threads meanwhile has it paused for them too."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
