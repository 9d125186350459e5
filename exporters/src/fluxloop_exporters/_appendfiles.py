"""Whole-line appends to the files of one directory, shared by the JSONL span and metric exporters.

Files are opened with ``O_APPEND`` and written with one ``os.write`` loop per call, so lines from
concurrent writers (threads or processes) never interleave; a failed write is truncated back to
where it started when possible, so a reader never sees a partial line. Not thread-safe by itself:
the exporters call it under their own lock.

Rotation: a file moved or deleted while it is open (``logrotate``, a person) is noticed at the
next write (its path no longer names the open file) and reopened under its name; a batch written
in the moment a file was *deleted* is written again to the new file, so nothing acknowledged is
lost (a batch that went to a *moved* file is in that file). :meth:`AppendFiles.close_all` reopens
everything explicitly (the collector's SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["AppendFiles"]

_MAX_OPEN_FILES = 8


class AppendFiles:
    """Open append descriptors for the files of ``directory`` (created on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fds: dict[str, int] = {}
        self._dir_ready = False

    def write(self, name: str, data: bytes | bytearray) -> str | None:
        """Append ``data`` (complete lines) to ``name``; the error text on failure, else None."""
        try:
            fd = self._fd(name)
        except OSError as exc:
            self._dir_ready = False
            return f"cannot open {self.directory / name}: {exc.strerror or exc}"
        error = self._append(name, fd, data)
        if error is None and not self._is_current(name, fd) and _unlinked(fd):
            # deleted while we wrote: those lines are gone with it; write them to the new file
            self._close(name)
            try:
                error = self._append(name, self._fd(name), data)
            except OSError as exc:
                error = f"cannot open {self.directory / name}: {exc.strerror or exc}"
        return error

    def _append(self, name: str, fd: int, data: bytes | bytearray) -> str | None:
        start = -1
        written = 0
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(data)
            while written < len(data):
                n = os.write(fd, view[written:])
                if n <= 0:  # pragma: no cover - os.write raises rather than returning 0
                    raise OSError("short write")
                written += n
        except OSError as exc:
            if written and start >= 0:
                with contextlib.suppress(OSError):  # never leave a partial line behind
                    os.ftruncate(fd, start)
            self._close(name)
            return f"cannot write {self.directory / name}: {exc.strerror or exc}"
        return None

    def _is_current(self, name: str, fd: int) -> bool:
        """Whether ``name`` still names the file open on ``fd`` (not moved or deleted)."""
        try:
            on_disk = os.stat(self.directory / name)
            mine = os.fstat(fd)
        except OSError:
            return False
        return on_disk.st_ino == mine.st_ino and on_disk.st_dev == mine.st_dev

    def close_all(self) -> None:
        """Close every open descriptor (the next write reopens)."""
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is not None:
            if self._is_current(name, fd):
                return fd
            self._close(name)  # rotated away: reopen under the name
            self._dir_ready = False
        if not self._dir_ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._dir_ready = True
        if len(self._fds) >= _MAX_OPEN_FILES:  # yesterday's files: close them
            self.close_all()
        fd = os.open(
            self.directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
        )
        self._fds[name] = fd
        return fd

    def _close(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _unlinked(fd: int) -> bool:
    try:
        return os.fstat(fd).st_nlink == 0
    except OSError:
        return True
