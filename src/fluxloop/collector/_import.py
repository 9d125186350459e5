"""``import_otlp_files``: OTLP JSON lines -> the FluxLoop JSONL contract.

Reads the format of the OpenTelemetry Collector's ``file`` exporter and of
``opentelemetry-exporter-otlp-json-file``: one ``TracesData`` / ``ExportTraceServiceRequest`` JSON
object per line (lowerCamelCase or snake_case keys, hex or base64 ids; ``.gz`` files are read
through gzip). Lines holding only metrics, logs or profiles are skipped and counted. Spans go
through the SDK exporter's encoder into ``traces_YYYYMMDD.jsonl`` / ``observations_YYYYMMDD.jsonl``.

The import is all or nothing: records are staged in a hidden directory inside the output
directory and appended to the daily files only once every line was read. A malformed line
(invalid JSON, not OTLP, or a span with invalid ids) stops the import with an
:class:`~fluxloop.errors.InputError` naming ``file:line``, unless ``skip_invalid`` is set, in which
case the line is counted in ``skipped_lines`` and the import goes on.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fluxloop_exporters import JsonlFileSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from fluxloop.collector._convert import PayloadError, convert_json
from fluxloop.collector._ingest import DEFAULT_POLICY, IngestPolicy, prepare_spans
from fluxloop.errors import InputError

__all__ = ["ImportResult", "import_otlp_files"]

_BATCH = 4096
_OTHER_SIGNALS = frozenset(
    {"resourceMetrics", "resource_metrics", "resourceLogs", "resource_logs"}
    | {"resourceProfiles", "resource_profiles"}
)


@dataclass
class ImportResult:
    """What an import read and wrote."""

    files: int = 0
    lines: int = 0
    spans: int = 0
    traces: int = 0
    skipped_lines: int = 0
    ignored_lines: int = 0
    """Lines of other signals (metrics, logs, profiles)."""
    errors: list[str] = field(default_factory=list)
    """The first few ``file:line: reason`` of skipped lines."""
    output_dir: Path = Path()


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        handle = _open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        try:
            yield from enumerate(handle, start=1)
        except (OSError, EOFError) as exc:  # a corrupt .gz
            raise InputError(f"{path}: cannot read: {exc}") from None


def _line_spans(line: bytes) -> list[ReadableSpan] | None:
    """The spans of one line; ``None`` for a line of another signal; raises PayloadError."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected an OTLP JSON object, found {type(data).__name__}")
    if "resourceSpans" not in data and "resource_spans" not in data:
        if any(key in data for key in _OTHER_SIGNALS):
            return None
        found = ", ".join(sorted(data)[:5]) or "no keys"
        raise PayloadError(f"expected an OTLP traces object with resourceSpans, found {found}")
    try:
        converted = convert_json(data)
    except RecursionError:
        raise PayloadError("nested too deeply") from None
    if converted.rejected:
        raise PayloadError(f"{converted.rejected} invalid span(s): {converted.error_message}")
    return converted.spans


def import_otlp_files(
    paths: Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    skip_invalid: bool = False,
    policy: IngestPolicy = DEFAULT_POLICY,
) -> ImportResult:
    """Convert OTLP JSON-lines files into contract files under ``output_dir``, through the
    collector's ingest step (secrets masked unless ``policy.mask`` is false, the SDK's
    attribute limits: :mod:`fluxloop.collector._ingest`).

    Raises:
        InputError: a file is missing or unreadable, or a line is malformed (without
            ``skip_invalid``); nothing is written then.
    """
    out = Path(os.path.abspath(os.fspath(output_dir)))
    result = ImportResult(output_dir=out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=out))
    except OSError as exc:
        raise InputError(f"--output: cannot write {out}: {exc.strerror or exc}") from None
    try:
        exporter = JsonlFileSpanExporter(staging)
        batch: list[ReadableSpan] = []

        def flush() -> None:
            if batch and (
                exporter.export(prepare_spans(batch, policy)) is not SpanExportResult.SUCCESS
            ):
                raise InputError(f"--output: cannot write {out}")
            batch.clear()

        for raw_path in paths:
            path = Path(raw_path)
            result.files += 1
            for number, line in _lines(path):
                if not line.strip():
                    continue
                result.lines += 1
                try:
                    spans = _line_spans(line)
                except PayloadError as exc:
                    message = f"{path}:{number}: {exc}"
                    if not skip_invalid:
                        raise InputError(message) from None
                    result.skipped_lines += 1
                    if len(result.errors) < 5:
                        result.errors.append(message)
                    continue
                if spans is None:
                    result.ignored_lines += 1
                    continue
                result.spans += len(spans)
                result.traces += sum(1 for s in spans if s.parent is None or s.parent.is_remote)
                batch.extend(spans)
                if len(batch) >= _BATCH:
                    flush()
        flush()
        exporter.shutdown()
        _merge(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _merge(staging: Path, out: Path) -> None:
    """Append every staged file to its namesake in ``out`` (created if absent)."""
    for staged in sorted(staging.iterdir()):
        target = out / staged.name
        try:
            with open(staged, "rb") as src, open(target, "ab") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
                dst.flush()
                with contextlib.suppress(OSError):
                    os.fsync(dst.fileno())
        except OSError as exc:
            raise InputError(f"--output: cannot write {target}: {exc.strerror or exc}") from None
