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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from fluxloop.sdk.masking import fast_key_scan, json_may_contain_secret_value, mask_secrets

from .yamlio import atomic_write_text

__all__ = [
    "ERRORS_FILE",
    "OBSERVATIONS_FILE",
    "SUMMARY_FILE",
    "TRACES_FILE",
    "TRACE_SUMMARY_FILE",
    "ArtifactWriter",
    "create_experiment_dir",
    "dumps",
    "masked_line",
    "safe_dir_name",
    "write_json_atomic",
]

SUMMARY_FILE = "summary.json"
TRACE_SUMMARY_FILE = "trace_summary.jsonl"
TRACES_FILE = "traces.jsonl"
OBSERVATIONS_FILE = "observations.jsonl"
ERRORS_FILE = "errors.json"
CONFIG_FILE = "config.yaml"
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available

try:  # the `fast` extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _orjson = None  # type: ignore[assignment]


def _default(value: object) -> object:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump()
        except Exception:
            pass
    return str(value)


def dumps(record: object) -> bytes:
    """Compact UTF-8 JSON of ``record`` (orjson when installed), non-JSON values as strings."""
    if _orjson is not None:
        try:
            return _orjson.dumps(
                record,
                default=_default,
                option=_orjson.OPT_NON_STR_KEYS | _orjson.OPT_SERIALIZE_NUMPY,
            )
        except (TypeError, _orjson.JSONEncodeError):
            pass
    return json.dumps(record, ensure_ascii=False, default=_default, separators=(",", ":")).encode()


def masked_line(record: object) -> bytes:
    """:func:`dumps` of ``record`` with secrets masked; the masking walk runs only when a
    cheap scan of the keys or of the encoded bytes finds something that may be a secret."""
    data = dumps(record)
    if fast_key_scan(record) or json_may_contain_secret_value(data):
        data = dumps(mask_secrets(record))
    return data


def write_json_atomic(path: Path, data: object) -> None:
    """``data`` as indented JSON, secrets masked, replacing ``path`` atomically."""
    text = json.dumps(mask_secrets(data), ensure_ascii=False, indent=2, default=_default)
    atomic_write_text(path, text + "\n")


_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]+")


def safe_dir_name(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name.strip()).strip("._") or "experiment"
    return cleaned[:80]


def create_experiment_dir(output_directory: Path, name: str, now: datetime | None = None) -> Path:
    """Create a fresh ``{name}_{YYYYMMDD_HHMMSS}`` directory; never reuse an existing one."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    base = f"{safe_dir_name(name)}_{stamp}"
    output_directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = output_directory / (base if n == 1 else f"{base}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"cannot create an experiment directory under {output_directory}")


class _Appender:
    """Unbuffered append-only file; each :meth:`write` is one ``write(2)`` of whole lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self.lines = 0

    def write(self, payload: bytes, count: int) -> None:
        if not payload:
            return
        view = memoryview(payload)
        while view:
            written = self._fh.write(view)
            if written is None:  # pragma: no cover - non-blocking files only
                continue
            view = view[written:]
        self.lines += count

    def close(self) -> None:
        self._fh.close()


class ArtifactWriter:
    """Writes the files of one experiment directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._summary = _Appender(directory / TRACE_SUMMARY_FILE)
        self._traces = _Appender(directory / TRACES_FILE)
        self._observations = _Appender(directory / OBSERVATIONS_FILE)

    def write_run(
        self,
        summary_line: Mapping[str, Any],
        traces: Iterable[Mapping[str, Any]] = (),
        observations: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        obs = [masked_line(o) for o in observations]
        if obs:
            self._observations.write(b"\n".join(obs) + b"\n", len(obs))
        trs = [masked_line(t) for t in traces]
        if trs:
            self._traces.write(b"\n".join(trs) + b"\n", len(trs))
        self._summary.write(masked_line(summary_line) + b"\n", 1)

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        write_json_atomic(self.directory / SUMMARY_FILE, summary)

    def write_errors(self, errors: Sequence[Mapping[str, Any]]) -> None:
        write_json_atomic(self.directory / ERRORS_FILE, errors)

    def write_config(self, config: Mapping[str, Any], header: str = "") -> None:
        text = yaml.dump(
            mask_secrets(dict(config)),
            Dumper=_DUMPER,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
        )
        atomic_write_text(self.directory / CONFIG_FILE, header + text)

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
