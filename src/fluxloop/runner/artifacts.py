"""The experiment directory and its files.

``{output_directory}/{name}_{YYYYMMDD_HHMMSS}/`` (``_2``, ``_3``... on a clash; created with an
atomic ``mkdir`` so two runs never share a directory) holding:

* ``trace_summary.jsonl``, ``traces.jsonl``, ``observations.jsonl``: appended as each run
  completes, one ``write`` of whole lines per file and run on an unbuffered file, so a crash
  leaves at most one torn last line (ignored and repaired by resume). ``trace_summary.jsonl`` is
  written last and is the commit record of a run.
* ``summary.json`` and ``errors.json``: rewritten atomically (temporary file + ``os.replace``).
* ``config.yaml``: the resolved configuration with secrets masked.

Every record and document passes through :mod:`fluxloop.sdk.masking` on its way to disk (by key,
by value pattern, credentials in URLs and exception texts), whatever produced it: the agent's
inputs and outputs, conversations, error messages and tracebacks, spans of other
instrumentations, the config snapshot.

A write that fails (a full disk, a file-size limit) is rolled back to the last whole run: the
files of that run are truncated to where they were, and :class:`~fluxloop.errors.StorageError`
names the file and the cause. ``summary.json`` falls back to an in-place rewrite when there is
no room for a temporary file, so an aborted experiment still says so.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from fluxloop_exporters.jsoncodec import dumps, dumps_pretty

from fluxloop._files import atomic_write
from fluxloop.errors import ConfigError, StorageError
from fluxloop.project.layout import (
    CONFIG_FILE,
    ERRORS_FILE,
    OBSERVATIONS_FILE,
    SUMMARY_FILE,
    TRACE_SUMMARY_FILE,
    TRACES_FILE,
)
from fluxloop.project.yaml import display_path
from fluxloop.sdk.masking import fast_key_scan, json_may_contain_secret_value, mask_secrets

__all__ = [
    "CONFIG_HEADER",
    "WRITTEN_BY",
    "ArtifactWriter",
    "cannot_write",
    "create_experiment_dir",
    "dumps",
    "masked_line",
    "safe_dir_name",
    "write_json_atomic",
]

WRITTEN_BY = "fluxloop"
"""``summary.json``'s ``written_by``: the mark ``--resume`` looks for before it touches a
directory (with ``config.yaml``'s header, :data:`CONFIG_HEADER`, for older experiments)."""
CONFIG_HEADER = "# FluxLoop experiment configuration snapshot"
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available


def masked_line(record: object) -> bytes:
    """:func:`dumps` of ``record`` with secrets masked; the masking walk runs only when a
    cheap scan of the keys or of the encoded bytes finds something that may be a secret."""
    data = dumps(record)
    if fast_key_scan(record) or json_may_contain_secret_value(data):
        data = dumps(mask_secrets(record))
    return data


def write_json_atomic(path: Path, data: object) -> None:
    """``data`` as indented JSON, secrets masked, replacing ``path`` atomically."""
    text = dumps_pretty(mask_secrets(data))
    atomic_write(path, text + "\n")


def cannot_write(path: Path, exc: OSError) -> StorageError:
    """The one-line error of a failed write: the file and the cause."""
    return StorageError(f"cannot write {display_path(path)}: {exc.strerror or exc}")


def _rewrite_in_place(path: Path, text: str) -> None:
    """Overwrite ``path`` without a temporary file: on a full disk the blocks the old content
    holds are reused (a last resort; a crash in the middle can leave it half written)."""
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]+")


def safe_dir_name(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name.strip()).strip("._") or "experiment"
    return cleaned[:80]


def create_experiment_dir(output_directory: Path, name: str, now: datetime | None = None) -> Path:
    """Create a fresh ``{name}_{YYYYMMDD_HHMMSS}`` directory; never reuse an existing one."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    base = f"{safe_dir_name(name)}_{stamp}"
    try:
        output_directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (p for p in (output_directory, *output_directory.parents) if p.is_file()),
            output_directory,
        )
        raise ConfigError(
            f"output_directory: {display_path(output_directory)} cannot be created: "
            f"{display_path(blocker)} is a file, expected a directory",
            key="output_directory",
        ) from None
    except OSError as exc:
        raise StorageError(
            f"output_directory: cannot create {display_path(output_directory)}: "
            f"{exc.strerror or exc}"
        ) from None
    for n in range(1, 10_000):
        candidate = output_directory / (base if n == 1 else f"{base}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise cannot_write(candidate, exc) from None
        link_latest(candidate, name)
        return candidate
    raise RuntimeError(f"cannot create an experiment directory under {output_directory}")


def link_latest(directory: Path, name: str) -> None:
    """Point ``latest_<name>`` beside ``directory`` at it (seed 001's ``experiments/latest_*/``).

    A relative symbolic link, replaced atomically; where links cannot be made (some Windows
    setups) there is none, and ``latest`` as a directory argument still finds the newest run.
    """
    link = directory.parent / f"latest_{safe_dir_name(name)}"
    temporary = directory.parent / f".{link.name}.{os.getpid()}.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(directory.name, target_is_directory=True)
        os.replace(temporary, link)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


class _Appender:
    """Unbuffered append-only file; each :meth:`write` is one ``write(2)`` of whole lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self.lines = 0

    def size(self) -> int:
        return os.fstat(self._fh.fileno()).st_size

    def write(self, payload: bytes, count: int) -> None:
        """Append whole lines, or nothing: a failed write is truncated away and re-raised."""
        if not payload:
            return
        start = self.size()
        view = memoryview(payload)
        try:
            while view:
                written = self._fh.write(view)
                if written is None:  # pragma: no cover - non-blocking files only
                    continue
                view = view[written:]
        except OSError:
            self.truncate(start, 0)
            raise
        self.lines += count

    def truncate(self, size: int, lines: int) -> None:
        """Cut the file back to ``size`` bytes (forgetting ``lines`` whole lines)."""
        with contextlib.suppress(OSError):
            os.ftruncate(self._fh.fileno(), size)
        self.lines -= lines

    def close(self) -> None:
        self._fh.close()


class ArtifactWriter:
    """Writes the files of one experiment directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self._summary = _Appender(directory / TRACE_SUMMARY_FILE)
            self._traces = _Appender(directory / TRACES_FILE)
            self._observations = _Appender(directory / OBSERVATIONS_FILE)
        except OSError as exc:
            raise cannot_write(Path(exc.filename or directory), exc) from None

    def write_run(
        self,
        summary_line: Mapping[str, Any],
        traces: Iterable[Mapping[str, Any]] = (),
        observations: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Append one run's records, its ``trace_summary.jsonl`` line last (the commit).

        Raises:
            StorageError: a write failed; every file is back where it was before this run.
        """
        obs = [masked_line(o) for o in observations]
        trs = [masked_line(t) for t in traces]
        parts = [
            (self._observations, b"\n".join(obs) + b"\n" if obs else b"", len(obs)),
            (self._traces, b"\n".join(trs) + b"\n" if trs else b"", len(trs)),
            (self._summary, masked_line(summary_line) + b"\n", 1),
        ]
        done: list[tuple[_Appender, int, int]] = []
        for appender, payload, count in parts:
            start = appender.size()
            try:
                appender.write(payload, count)
            except OSError as exc:
                for written, size, lines in done:  # the run is not committed: none of it
                    written.truncate(size, lines)
                raise cannot_write(appender.path, exc) from None
            done.append((appender, start, count if payload else 0))

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Rewrite ``summary.json`` (atomically; in place when the disk has no room left)."""
        path = self.directory / SUMMARY_FILE
        data = {**summary, "written_by": WRITTEN_BY}
        try:
            write_json_atomic(path, data)
        except OSError:
            text = dumps_pretty(mask_secrets(data))
            try:
                _rewrite_in_place(path, text + "\n")
            except OSError as exc:
                raise cannot_write(path, exc) from None

    def write_errors(self, errors: Sequence[Mapping[str, Any]]) -> None:
        try:
            write_json_atomic(self.directory / ERRORS_FILE, errors)
        except OSError as exc:
            raise cannot_write(self.directory / ERRORS_FILE, exc) from None

    def write_config(self, config: Mapping[str, Any], header: str = "") -> None:
        text = yaml.dump(
            mask_secrets(dict(config)),
            Dumper=_DUMPER,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
        )
        try:
            atomic_write(self.directory / CONFIG_FILE, header + text)
        except OSError as exc:
            raise cannot_write(self.directory / CONFIG_FILE, exc) from None

    def close(self) -> None:
        for appender in (self._observations, self._traces, self._summary):
            with contextlib.suppress(OSError):
                appender.close()


def fsync_dir(path: Path) -> None:  # pragma: no cover - best effort
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
