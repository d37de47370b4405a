"""Child-side write guard (a sys audit hook): writes through links into the project land in the copy."""

from __future__ import annotations

import os
import shutil
import sys

from trainaudit.tracer.trace import Sandbox

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_PATH_EVENTS = {"os.remove": (0,), "os.rename": (0, 1), "os.rmdir": (0,), "shutil.rmtree": (0,), "os.mkdir": (0,),
                "os.truncate": (0,), "os.symlink": (1,), "os.link": (1,), "os.chmod": (0,)}


class WriteGuard:
    """Copy-on-write for links the sandbox made; refusal for writes aimed straight at the original project."""

    def __init__(self, scratch: str, project: str, record: Sandbox) -> None:
        self.scratch = os.path.realpath(scratch) + os.sep
        self.project = os.path.realpath(project) + os.sep
        self.record = record
        self._busy = False

    def install(self) -> None:
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if self._busy:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags > 0 and bool(flags & _WRITE_FLAGS))
            if writing:
                self._check(path, append=isinstance(mode, str) and ("a" in mode or "+" in mode))
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args):
                    self._check(args[i], append=False, through_only=True)

    def _check(self, path, append: bool, through_only: bool = False) -> None:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return  # a file descriptor: its open was checked already
        full = os.path.abspath(os.fsdecode(os.fspath(path)))
        real = os.path.realpath(full)
        if real.startswith(self.scratch) or not (real + os.sep).startswith(self.project):
            return
        if (full + os.sep).startswith(self.scratch) and not self.project.startswith(self.scratch):
            self._busy = True
            try:
                self._materialise(full, append, through_only)
            finally:
                self._busy = False
            self.record.redirected_writes.append(full[len(self.scratch):])
            return
        self.record.blocked_writes.append(full)
        raise PermissionError(f"trainaudit run: refused to write into the original project: {full}")

    def _materialise(self, full: str, append: bool, through_only: bool) -> None:
        """Turn linked folders on the way into real folders of links, then break the file's own link."""
        rel = full[len(self.scratch):].split(os.sep)
        cur = self.scratch.rstrip(os.sep)
        for part in rel[:-1]:
            cur = os.path.join(cur, part)
            if os.path.islink(cur):
                target = os.path.realpath(cur)
                os.unlink(cur)
                os.mkdir(cur)
                for child in os.listdir(target):
                    os.symlink(os.path.join(target, child), os.path.join(cur, child))
        if through_only or not os.path.islink(full):
            return
        target = os.path.realpath(full)
        os.unlink(full)
        if append and os.path.isfile(target):
            shutil.copy2(target, full)
