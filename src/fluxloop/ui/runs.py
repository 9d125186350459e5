"""The run table of one experiment: DuckDB over the JSONL files, filtered, sorted and paginated
on the server so the browser only ever receives one page.

The table is built in a background thread (:func:`~fluxloop.ui.runload.load_runs`) when an
experiment is first opened and again whenever one of its files changes; until the first build
is done, the unfiltered first pages are read straight from ``trace_summary.jsonl`` (marked
``loading``), so a 100,000-run experiment shows its first page at once. A rebuild (a running
experiment) happens on a fresh connection that replaces the old one when complete; queries in
the meantime see the previous table.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import duckdb

from fluxloop.project.layout import SUMMARY_FILE

from .catalog import read_small_json
from .runfilter import SORTS, RunFilter
from .runload import PREVIEW, count_lines, file_stamp, first_rows, load_runs, source_files

__all__ = ["RunTable", "RunTables"]

_log = logging.getLogger("fluxloop.ui")
#: how long a query that needs the whole table waits for its first build
BUILD_WAIT_SECONDS = 300.0


class RunTable:
    """The runs of one experiment directory."""

    def __init__(self, directory: Path, summary: Path | None = None) -> None:
        self.directory = directory
        self.summary = summary  # the derived runs of a directory of traces
        self.notices: list[str] = []
        self.evaluated = False
        self.total = 0
        self._con: duckdb.DuckDBPyConnection | None = None
        self._stamp: tuple[tuple[int, int], ...] | None = None
        self._building: tuple[tuple[int, int], ...] | None = None
        self._built = threading.Event()
        self._lock = threading.Lock()

    @property
    def _sources(self) -> tuple[Path, Path, Path]:
        return source_files(self.directory, self.summary)

    @property
    def ready(self) -> bool:
        return self._built.is_set()

    def refresh(self) -> RunTable:
        """Start a build when a file changed since the last one (cheap: three stat calls)."""
        stamp = file_stamp(*self._sources)
        with self._lock:
            if stamp in (self._stamp, self._building) or self._building is not None:
                return self
            self._building = stamp
        threading.Thread(target=self._build, args=(stamp,), daemon=True).start()
        return self

    def _build(self, stamp: tuple[tuple[int, int], ...]) -> None:
        con = duckdb.connect()
        try:
            loaded = load_runs(con, self.directory, self.summary)
        except Exception as exc:  # reported on the page; the detail goes to the terminal
            _log.error("fluxloop ui: loading %s failed", self.directory, exc_info=exc)
            con.close()
            with self._lock:
                self.notices = [f"the run table could not be built ({type(exc).__name__})"]
                self._stamp, self._building = stamp, None
            self._built.set()
            return
        with self._lock:
            # the old connection is left to the garbage collector: a query may still use it
            self._con = con
            self.total, self.evaluated, self.notices = (
                loaded.total,
                loaded.evaluated,
                loaded.notices,
            )
            self._stamp, self._building = stamp, None
        self._built.set()
        self.refresh()  # a file that changed during the build is read again

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the current table, waiting for the first build when needed."""
        self.refresh()
        self._built.wait(BUILD_WAIT_SECONDS)
        with self._lock:
            con = self._con
        if con is None:
            con = duckdb.connect()
            con.execute(
                "CREATE VIEW view_runs AS SELECT NULL::BIGINT AS n, NULL AS trace_id, "
                "NULL::BIGINT AS iteration, NULL AS persona, NULL AS input_text, "
                "NULL AS output_text, NULL::DOUBLE AS duration_ms, NULL::DOUBLE AS tokens, "
                "NULL::BOOLEAN AS success, NULL AS status, NULL AS error_type, "
                "NULL AS error_message, NULL::BOOLEAN AS bad, NULL::BOOLEAN AS passed, "
                "NULL::DOUBLE AS score WHERE false"
            )
            return con
        return con.cursor()

    # -- queries --------------------------------------------------------------------------
    def page(self, flt: RunFilter) -> dict[str, Any]:
        """One page of runs matching the filter, and how many match in all."""
        self.refresh()
        if not self.ready and flt.is_default:
            total = count_lines(self._sources[0])
            return {
                "total": total,
                "matched": total,
                "offset": flt.offset,
                "limit": flt.limit,
                "rows": first_rows(self.directory, flt.offset, flt.limit, self.summary),
                "loading": True,
            }
        where, args = flt.where()
        order = SORTS[flt.sort]
        direction = "DESC" if flt.descending else "ASC"
        cur = self._cursor()
        try:
            row = cur.execute(f"SELECT count(*) FROM view_runs{where}", args).fetchone()
            matched = int(row[0]) if row else 0
            result = cur.execute(
                "SELECT n, trace_id, iteration, persona, left(input_text, ?) AS input, "
                "output_text, duration_ms, tokens, success, status, error_type, error_message, "
                f"passed, score FROM view_runs{where} ORDER BY {order} {direction} NULLS LAST, n "
                "LIMIT ? OFFSET ?",
                [PREVIEW, *args, flt.limit, flt.offset],
            )
            names = [d[0] for d in result.description or []]
            rows = [dict(zip(names, values, strict=True)) for values in result.fetchall()]
        finally:
            cur.close()
        return {
            "total": self.total,
            "matched": matched,
            "offset": flt.offset,
            "limit": flt.limit,
            "rows": rows,
            "loading": False,
        }

    def facets(self) -> dict[str, Any]:
        """The values the filter offers (personas, error types with counts); while the table is
        being built, what ``summary.json`` says, marked ``loading``."""
        self.refresh()
        if not self.ready:
            return self._facets_from_summary()
        cur = self._cursor()
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
            "loading": False,
        }

    def _facets_from_summary(self) -> dict[str, Any]:
        summary, _ = read_small_json(self.directory / SUMMARY_FILE)
        summary = summary or {}
        personas = summary.get("per_persona")
        errors = summary.get("errors")
        by_type = errors.get("by_type") if isinstance(errors, dict) else None
        return {
            "personas": sorted(personas) if isinstance(personas, dict) else [],
            "error_types": [
                {"type": k, "count": v}
                for k, v in sorted(
                    (by_type or {}).items(), key=lambda kv: (-int(kv[1] or 0), kv[0])
                )
            ],
            "failed": summary.get("failed"),
            "passed": None,
            "evaluated": self._sources[2].is_file(),
            "loading": True,
        }

    def siblings(self, trace_id: str) -> list[dict[str, Any]]:
        """The runs of the same input and persona (every iteration), in iteration order."""
        cur = self._cursor()
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

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


class RunTables:
    """A few experiments' tables kept loaded (least recently used is closed first)."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._tables: OrderedDict[Path, RunTable] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, directory: Path, summary: Path | None = None) -> RunTable:
        """The table of ``directory`` (``summary``: its derived runs, for a directory of
        traces)."""
        with self._lock:
            table = self._tables.get(directory)
            if table is None or table.summary != summary:
                if table is not None:
                    table.close()
                table = RunTable(directory, summary)
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
