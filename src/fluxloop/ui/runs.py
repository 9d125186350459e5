"""The run table of one experiment, queried with DuckDB straight from the JSONL files.

``trace_summary.jsonl`` is read once into an in-memory DuckDB table (a few columns per run,
output previews only), joined with ``evaluation/per_trace.jsonl`` when the experiment was
evaluated; filters, sort and pagination are SQL, so the browser only ever receives one page.
The table is reloaded when a file changes (a running experiment), and nothing is written
beside the data. Malformed lines are skipped and counted; a torn last line (a run still being
written, or killed) is reported as such.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from fluxloop.analysis.experiment import load_experiment, norm_id, run_from_error
from fluxloop.errors import FluxLoopError, InputError

__all__ = ["RunFilter", "RunTable", "RunTables"]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
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
_SUMMARY_SELECT = (
    "row_number() OVER (), trace_id, coalesce(iteration, 0), persona, input, "
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

#: sortable columns: the query parameter -> SQL
SORTS = {
    "n": "n",
    "iteration": "iteration",
    "persona": "persona",
    "input": "input_text",
    "duration": "duration_ms",
    "tokens": "tokens",
    "status": "success",
    "score": "score",
    "error": "error_type",
}


class FilterError(InputError):
    """A filter or sort parameter the table cannot use."""


def _number(params: Mapping[str, str], key: str) -> float | None:
    raw = (params.get(key) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise FilterError(f"{key}: expected a number, found {raw!r}") from None


@dataclass
class RunFilter:
    """The run table's server-side filter, sort and page (from the page's query string)."""

    status: str | None = None  # success | failed
    persona: str | None = None
    text: str | None = None
    verdict: str | None = None  # passed | failed | none
    error_type: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_tokens: float | None = None
    max_tokens: float | None = None
    sort: str = "n"
    descending: bool = False
    offset: int = 0
    limit: int = PAGE_SIZE

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> RunFilter:
        status = params.get("status") or None
        if status not in (None, "success", "failed"):
            raise FilterError(f"status: expected success or failed, found {status!r}")
        verdict = params.get("verdict") or None
        if verdict not in (None, "passed", "failed", "none"):
            raise FilterError(f"verdict: expected passed, failed or none, found {verdict!r}")
        sort = params.get("sort") or "n"
        if sort not in SORTS:
            raise FilterError(f"sort: expected one of {', '.join(SORTS)}, found {sort!r}")
        try:
            offset = max(0, int(params.get("offset") or 0))
            limit = min(MAX_PAGE_SIZE, max(1, int(params.get("limit") or PAGE_SIZE)))
        except ValueError:
            raise FilterError("offset/limit: expected whole numbers") from None
        return cls(
            status=status,
            persona=params.get("persona") or None,
            text=params.get("q") or None,
            verdict=verdict,
            error_type=params.get("error_type") or None,
            min_duration=_number(params, "dmin"),
            max_duration=_number(params, "dmax"),
            min_tokens=_number(params, "tmin"),
            max_tokens=_number(params, "tmax"),
            sort=sort,
            descending=params.get("order") == "desc",
            offset=offset,
            limit=limit,
        )

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.status == "success":
            clauses.append("success")
        elif self.status == "failed":
            clauses.append("NOT success")
        if self.persona is not None:
            clauses.append("persona = ?")
            args.append(self.persona)
        if self.text:
            clauses.append("input_text ILIKE ?")
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
            clauses[-1] += " ESCAPE '\\'"
        if self.verdict == "passed":
            clauses.append("passed IS TRUE")
        elif self.verdict == "failed":
            clauses.append("passed IS FALSE")
        elif self.verdict == "none":
            clauses.append("passed IS NULL")
        if self.error_type is not None:
            clauses.append("error_type = ?")
            args.append(self.error_type)
        for column, low, high in (
            ("duration_ms", self.min_duration, self.max_duration),
            ("tokens", self.min_tokens, self.max_tokens),
        ):
            if low is not None:
                clauses.append(f"{column} >= ?")
                args.append(low)
            if high is not None:
                clauses.append(f"{column} <= ?")
                args.append(high)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _stamp(*paths: Path) -> tuple[tuple[int, int], ...]:
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


@dataclass
class RunTable:
    """The runs of one experiment directory, loaded into DuckDB."""

    directory: Path
    notices: list[str] = field(default_factory=list)
    evaluated: bool = False
    total: int = 0
    _con: duckdb.DuckDBPyConnection = field(default_factory=duckdb.connect)
    _stamp: tuple[tuple[int, int], ...] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def _files(self) -> tuple[Path, Path, Path]:
        return (
            self.directory / "trace_summary.jsonl",
            self.directory / "errors.json",
            self.directory / "evaluation" / "per_trace.jsonl",
        )

    def refresh(self) -> RunTable:
        """Reload when a file changed since the last load (cheap: three stat calls)."""
        stamp = _stamp(*self._files)
        if stamp == self._stamp:
            return self
        with self._lock:
            if stamp != self._stamp:
                self._load()
                self._stamp = stamp
        return self

    def _load(self) -> None:
        summary, errors, per_trace = self._files
        notices: list[str] = []
        con = self._con
        con.execute(f"CREATE OR REPLACE TABLE runs ({_RUN_COLUMNS})")
        if summary.is_file():
            notices += self._load_summary(summary)
        elif not errors.is_file():
            notices.append("trace_summary.jsonl: missing (no runs recorded yet)")
        if errors.is_file():
            notices += self._load_errors()
        con.execute(
            "CREATE OR REPLACE TABLE evals (trace_id VARCHAR, passed BOOLEAN, score DOUBLE)"
        )
        self.evaluated = per_trace.is_file()
        if self.evaluated:
            try:
                con.execute(
                    "INSERT INTO evals SELECT trace_id, any_value(passed), any_value(score) "
                    f"FROM read_json(?, format='newline_delimited', ignore_errors=true, "
                    f"columns={_EVAL_COLUMNS}) WHERE trace_id IS NOT NULL GROUP BY trace_id",
                    [str(per_trace)],
                )
            except duckdb.Error as exc:
                notices.append(f"evaluation/per_trace.jsonl: cannot read ({_first_line(exc)})")
        # a view: the join costs a few ms per query, materialising it would cost the first page
        con.execute(
            "CREATE OR REPLACE VIEW view_runs AS SELECT r.*, e.passed, e.score FROM runs r "
            "LEFT JOIN evals e USING (trace_id)"
        )
        row = con.execute("SELECT count(*) FROM runs").fetchone()
        self.total = int(row[0]) if row else 0
        self.notices = notices

    def _load_summary(self, path: Path) -> list[str]:
        """One DuckDB pass over trace_summary.jsonl. ``input``/``output`` are read as VARCHAR:
        DuckDB gives a string's text and any other value's JSON, which is what the table shows
        and searches (and much cheaper than JSON functions per row)."""
        notices: list[str] = []
        try:
            self._con.execute(
                f"INSERT INTO runs SELECT {_SUMMARY_SELECT} FROM read_json(?, "
                f"format='newline_delimited', ignore_errors=true, columns={_SUMMARY_COLUMNS})",
                [str(path)],
            )
        except duckdb.Error as exc:
            return [f"trace_summary.jsonl: cannot read ({_first_line(exc)})"]
        row = self._con.execute("SELECT count(*) FROM runs WHERE bad").fetchone()
        skipped = int(row[0]) if row else 0
        if skipped:
            self._con.execute("DELETE FROM runs WHERE bad")
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

    def _load_errors(self) -> list[str]:
        """The original FluxLoop's failed runs, known only from errors.json."""
        try:
            experiment = load_experiment(self.directory)
        except FluxLoopError as exc:
            return [str(exc).replace(str(self.directory) + os.sep, "")]
        if experiment.format != "original" and experiment.has_trace_summary:
            return []  # FluxLoop's failed runs are in trace_summary.jsonl already
        known = {norm_id(r[0]) for r in self._con.execute("SELECT trace_id FROM runs").fetchall()}
        row = self._con.execute("SELECT coalesce(max(n), 0) FROM runs").fetchone()
        n = int(row[0]) if row else 0
        for entry in experiment.errors:
            if norm_id(entry.get("trace_id")) in known and entry.get("trace_id"):
                continue
            run = run_from_error(entry)
            n += 1
            error = run.error or {}
            text = run.input if isinstance(run.input, str) else str(run.input)
            self._con.execute(
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

    # -- queries --------------------------------------------------------------------------
    def page(self, flt: RunFilter) -> dict[str, Any]:
        """One page of runs matching the filter, and how many match in all."""
        self.refresh()
        where, args = flt.where()
        order = SORTS[flt.sort]
        direction = "DESC" if flt.descending else "ASC"
        cur = self._con.cursor()
        try:
            row = cur.execute(f"SELECT count(*) FROM view_runs{where}", args).fetchone()
            matched = int(row[0]) if row else 0
            result = cur.execute(
                "SELECT n, trace_id, iteration, persona, left(input_text, ?), output_text, "
                "duration_ms, tokens, success, status, error_type, error_message, passed, score "
                f"FROM view_runs{where} ORDER BY {order} {direction} NULLS LAST, n "
                "LIMIT ? OFFSET ?",
                [PREVIEW, *args, flt.limit, flt.offset],
            )
            names = [d[0] for d in result.description or []]
            names[4] = "input"
            rows = [dict(zip(names, values, strict=True)) for values in result.fetchall()]
        finally:
            cur.close()
        return {
            "total": self.total,
            "matched": matched,
            "offset": flt.offset,
            "limit": flt.limit,
            "rows": rows,
        }

    def facets(self) -> dict[str, Any]:
        """The values the filter offers: personas and error types with counts."""
        self.refresh()
        cur = self._con.cursor()
        try:
            personas = [
                r[0]
                for r in cur.execute(
                    "SELECT DISTINCT persona FROM view_runs WHERE persona IS NOT NULL ORDER BY 1"
                ).fetchall()
            ]
            errors = [
                {"type": r[0], "count": int(r[1])}
                for r in cur.execute(
                    "SELECT error_type, count(*) FROM view_runs WHERE error_type IS NOT NULL "
                    "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"
                ).fetchall()
            ]
            row = cur.execute(
                "SELECT count(*) FILTER (WHERE NOT success), count(*) FILTER (WHERE passed) "
                "FROM view_runs"
            ).fetchone()
        finally:
            cur.close()
        return {
            "personas": personas,
            "error_types": errors,
            "failed": int(row[0]) if row else 0,
            "passed": int(row[1]) if row else 0,
            "evaluated": self.evaluated,
        }

    def siblings(self, trace_id: str) -> list[dict[str, Any]]:
        """The runs of the same input and persona (every iteration), in iteration order."""
        self.refresh()
        cur = self._con.cursor()
        try:
            result = cur.execute(
                "SELECT s.trace_id, s.iteration, s.success, s.passed FROM view_runs s JOIN "
                "(SELECT input_text, persona FROM view_runs WHERE trace_id = ? LIMIT 1) r "
                "ON s.input_text IS NOT DISTINCT FROM r.input_text "
                "AND s.persona IS NOT DISTINCT FROM r.persona ORDER BY s.iteration, s.n",
                [trace_id],
            )
            return [
                {"trace_id": t, "iteration": i, "success": s, "passed": p}
                for t, i, s, p in result.fetchall()
            ]
        finally:
            cur.close()

    def run_row(self, trace_id: str) -> dict[str, Any] | None:
        self.refresh()
        cur = self._con.cursor()
        try:
            result = cur.execute(
                "SELECT * EXCLUDE (bad) FROM view_runs WHERE trace_id = ? LIMIT 1", [trace_id]
            )
            names = [d[0] for d in result.description or []]
            row = result.fetchone()
        finally:
            cur.close()
        return dict(zip(names, row, strict=True)) if row else None

    def close(self) -> None:
        self._con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RunTables:
    """A few experiments' tables kept loaded (least recently used is closed first)."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._tables: OrderedDict[Path, RunTable] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, directory: Path) -> RunTable:
        with self._lock:
            table = self._tables.get(directory)
            if table is None:
                table = RunTable(directory)
                self._tables[directory] = table
                while len(self._tables) > self._size:
                    _, old = self._tables.popitem(last=False)
                    old.close()
            self._tables.move_to_end(directory)
        return table.refresh()

    def close(self) -> None:
        with self._lock:
            for table in self._tables.values():
                table.close()
            self._tables.clear()
