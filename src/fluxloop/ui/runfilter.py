"""The run table's filter, sort and page, parsed from a page's query string into SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fluxloop.errors import InputError

__all__ = ["PAGE_SIZE", "SORTS", "FilterError", "RunFilter"]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

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

    @property
    def is_default(self) -> bool:
        """No filter and file order: the page a file read can answer before the table exists."""
        return self.where()[0] == "" and self.sort == "n" and not self.descending
