"""Building an experiment's run table in DuckDB from its files, and reading the first rows of
``trace_summary.jsonl`` directly while that table is being built.

``trace_summary.jsonl`` is read in one pass (a few columns per run, output previews only), the
original FluxLoop's failures are added from ``errors.json``, and ``evaluation/per_trace.jsonl``
is joined by trace id in a view. Malformed lines are skipped and counted; a torn last line (a run
still being written, or killed) is reported as such. Nothing is written beside the data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from fluxloop.analysis.experiment import load_experiment, norm_id, run_from_error
from fluxloop.errors import FluxLoopError
from fluxloop.project.layout import ERRORS_FILE, EVALUATION_DIR, PER_TRACE_FILE, TRACE_SUMMARY_FILE

__all__ = [
    "PREVIEW",
    "Loaded",
    "count_lines",
    "file_stamp",
    "first_rows",
    "load_runs",
    "source_files",
]

PREVIEW = 200

_SUMMARY_COLUMNS = (
    "{trace_id: 'VARCHAR', iteration: 'BIGINT', persona: 'VARCHAR', input: 'VARCHAR', "
    "output: 'VARCHAR', duration_ms: 'DOUBLE', success: 'BOOLEAN', status: 'VARCHAR', "
    "error: 'JSON', error_type: 'VARCHAR', token_usage: 'JSON'}"
)
_EVAL_COLUMNS = "{trace_id: 'VARCHAR', passed: 'BOOLEAN', score: 'DOUBLE'}"
_RUN_COLUMNS = (
    "n BIGINT, trace_id VARCHAR, iteration BIGINT, persona VARCHAR, input_text VARCHAR, "
    "output_text VARCHAR, duration_ms DOUBLE, tokens DOUBLE, success BOOLEAN, status VARCHAR, "
    "error_type VARCHAR, error_message VARCHAR, bad BOOLEAN"
)
_OK = "coalesce(success, status = 'success', error IS NULL)"
_IS_OBJECT = "json_type(error) = 'OBJECT'"
#: one trace_summary line -> one row of ``runs``; ``bad``: a line DuckDB could not parse (every
#: column NULL), counted for the notice and then deleted
_ROW_SELECT = (
    "trace_id, coalesce(iteration, 0), persona, input, "
    f"left(output, {PREVIEW}), duration_ms, "
    "coalesce(TRY_CAST(token_usage ->> 'total_tokens' AS DOUBLE), "
    "TRY_CAST(token_usage ->> 'prompt_tokens' AS DOUBLE) + "
    "TRY_CAST(token_usage ->> 'completion_tokens' AS DOUBLE)), "
    f"{_OK}, coalesce(status, CASE WHEN {_OK} THEN 'success' ELSE 'error' END), "
    f"CASE WHEN {_IS_OBJECT} THEN coalesce(error ->> 'type', error ->> 'error_type') "
    "ELSE error_type END, "
    f"left(CASE WHEN {_IS_OBJECT} THEN coalesce(error ->> 'message', error ->> 'error') "
    f"ELSE error ->> '$' END, {PREVIEW}), "
    "(trace_id IS NULL AND input IS NULL AND iteration IS NULL AND success IS NULL "
    "AND status IS NULL AND output IS NULL)"
)
_SUMMARY_SELECT = f"row_number() OVER (), {_ROW_SELECT}"
_READ = "read_json(?, format='newline_delimited', ignore_errors=true, columns={})"


@dataclass
class Loaded:
    """What a load found: run count, whether the experiment was evaluated, notices."""

    total: int = 0
    evaluated: bool = False
    notices: list[str] = field(default_factory=list)


def source_files(directory: Path, summary: Path | None = None) -> tuple[Path, Path, Path]:
    """trace_summary.jsonl (or ``summary``: the runs derived from a directory of traces),
    errors.json, evaluation/per_trace.jsonl."""
    return (
        summary or directory / TRACE_SUMMARY_FILE,
        directory / ERRORS_FILE,
        directory / EVALUATION_DIR / PER_TRACE_FILE,
    )


def load_runs(
    con: duckdb.DuckDBPyConnection, directory: Path, summary_path: Path | None = None
) -> Loaded:
    """Create ``runs``, ``evals`` and the ``view_runs`` view on ``con``."""
    summary, errors, per_trace = source_files(directory, summary_path)
    result = Loaded()
    con.execute(f"CREATE OR REPLACE TABLE runs ({_RUN_COLUMNS})")
    if summary.is_file():
        result.notices += _load_summary(con, summary)
    elif not errors.is_file():
        result.notices.append("trace_summary.jsonl: missing (no runs recorded yet)")
    if errors.is_file():
        result.notices += _load_errors(con, directory)
    con.execute("CREATE OR REPLACE TABLE evals (trace_id VARCHAR, passed BOOLEAN, score DOUBLE)")
    result.evaluated = per_trace.is_file()
    if result.evaluated:
        try:
            con.execute(
                "INSERT INTO evals SELECT trace_id, any_value(passed), any_value(score) "
                f"FROM {_READ.format(_EVAL_COLUMNS)} WHERE trace_id IS NOT NULL GROUP BY trace_id",
                [str(per_trace)],
            )
        except duckdb.Error as exc:
            result.notices.append(f"evaluation/per_trace.jsonl: cannot read ({_first_line(exc)})")
    # a view: the join costs a few ms per query, materialising it would delay the first page
    con.execute(
        "CREATE OR REPLACE VIEW view_runs AS SELECT r.*, e.passed, e.score FROM runs r "
        "LEFT JOIN evals e USING (trace_id)"
    )
    row = con.execute("SELECT count(*) FROM runs").fetchone()
    result.total = int(row[0]) if row else 0
    return result


def _load_summary(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """One pass over trace_summary.jsonl. ``input``/``output`` are read as VARCHAR: DuckDB gives
    a string's text and any other value's JSON, which is what the table shows and searches (and
    much cheaper than JSON functions per row)."""
    notices: list[str] = []
    try:
        con.execute(
            f"INSERT INTO runs SELECT {_SUMMARY_SELECT} FROM {_READ.format(_SUMMARY_COLUMNS)}",
            [str(path)],
        )
    except duckdb.Error as exc:
        return [f"trace_summary.jsonl: cannot read ({_first_line(exc)})"]
    row = con.execute("SELECT count(*) FROM runs WHERE bad").fetchone()
    skipped = int(row[0]) if row else 0
    if skipped:
        con.execute("DELETE FROM runs WHERE bad")
    if _torn(path):
        notices.append(
            "trace_summary.jsonl: the last line is incomplete (a run still being written, "
            "or an interrupted write); it is not shown"
        )
        skipped -= 1
    if skipped > 0:
        notices.append(
            f"trace_summary.jsonl: {skipped} malformed line(s) skipped "
            "(expected one JSON object per line)"
        )
    return notices


def _load_errors(con: duckdb.DuckDBPyConnection, directory: Path) -> list[str]:
    """The original FluxLoop's failed runs, known only from errors.json."""
    try:
        experiment = load_experiment(directory)
    except FluxLoopError as exc:
        return [str(exc).replace(str(directory) + os.sep, "")]
    if experiment.format != "original" and experiment.has_trace_summary:
        return []  # FluxLoop's failed runs are in trace_summary.jsonl already
    known = {norm_id(r[0]) for r in con.execute("SELECT trace_id FROM runs").fetchall()}
    row = con.execute("SELECT coalesce(max(n), 0) FROM runs").fetchone()
    n = int(row[0]) if row else 0
    for entry in experiment.errors:
        if norm_id(entry.get("trace_id")) in known and entry.get("trace_id"):
            continue
        run = run_from_error(entry)
        n += 1
        error = run.error or {}
        text = run.input if isinstance(run.input, str) else str(run.input)
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, NULL, ?, NULL, false, ?, ?, ?, false)",
            [
                n,
                run.trace_id,
                run.iteration,
                run.persona,
                text,
                run.duration_ms,
                run.status,
                error.get("type"),
                str(error.get("message") or "")[:PREVIEW],
            ],
        )
    return []


def first_rows(
    directory: Path, offset: int, limit: int, summary: Path | None = None
) -> list[dict[str, Any]]:
    """Rows ``offset+1 .. offset+limit`` of trace_summary.jsonl in file order, read directly
    (DuckDB stops reading once it has them); no evaluation verdicts."""
    path = source_files(directory, summary)[0]
    if not path.is_file():
        return []
    con = duckdb.connect()
    try:
        result = con.execute(
            f"SELECT {_ROW_SELECT} FROM {_READ.format(_SUMMARY_COLUMNS)} LIMIT ? OFFSET ?",
            [str(path), limit, offset],
        )
        names = [d[0] for d in result.description or []]
        raw = result.fetchall()
    except duckdb.Error:
        return []
    finally:
        con.close()
    rows = []
    for number, values in enumerate(raw, start=offset + 1):
        row = dict(zip(_PAGE_NAMES, values[: len(_PAGE_NAMES)], strict=True))
        if values[len(names) - 1]:  # a malformed line
            continue
        row.update(n=number, input=(row["input"] or "")[:PREVIEW], passed=None, score=None)
        rows.append(row)
    return rows


#: the names :func:`first_rows` gives the columns of :data:`_ROW_SELECT` (as the table's)
_PAGE_NAMES = (
    "trace_id",
    "iteration",
    "persona",
    "input",
    "output_text",
    "duration_ms",
    "tokens",
    "success",
    "status",
    "error_type",
    "error_message",
)


def count_lines(path: Path) -> int:
    """Non-empty lines of a file, counted in 1 MiB blocks (no JSON parsing)."""
    count = 0
    last = b"\n"
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                count += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return 0
    return count + (last != b"\n")


def file_stamp(*paths: Path) -> tuple[tuple[int, int], ...]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((-1, 0))
    return tuple(out)


def _torn(path: Path) -> bool:
    """True when the file's last byte is not a newline (a line still being written)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
