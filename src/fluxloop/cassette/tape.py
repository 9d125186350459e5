"""The tape of one run: which recorded call answers which request, and what is new.

A :class:`Tape` is made current (a context variable, so it follows the run into worker threads
and tasks that copy the context) for the duration of one run; the HTTP and langchain-core
interceptors ask it for each model call:

* :meth:`Tape.begin` numbers the call and, in ``replay`` / ``auto``, looks for a recorded
  entry of the same run with the same normalised request: the one recorded at the same call
  number first, else the first one not used yet, so a reordered but identical request still
  matches and parallel runs never see each other's recordings. A miss in ``replay`` raises
  :class:`~fluxloop.cassette.errors.CassetteMiss` (and is remembered, so the run fails even if
  the agent swallows the exception).
* :meth:`Tape.commit` keeps a live call's request and response as a new entry.

The interceptors mark the time they spend inside a live call (:func:`inside_call`), so the
HTTP request a langchain chat model makes is not recorded a second time under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .errors import CassetteMiss
from .normalize import prepare

if TYPE_CHECKING:
    from .settings import CassetteSettings

__all__ = [
    "MODES",
    "TIMINGS",
    "Call",
    "Mode",
    "Tape",
    "TapeOutcome",
    "TapeOwner",
    "Timing",
    "active_tape",
    "current_tape",
    "inside_call",
    "miss_line",
    "wait_async",
    "wait_sync",
]

Mode = Literal["record", "replay", "auto", "off"]
Timing = Literal["instant", "recorded"]
MODES: tuple[Mode, ...] = ("record", "replay", "auto", "off")
TIMINGS: tuple[Timing, ...] = ("instant", "recorded")

_TAPE: ContextVar[Tape | None] = ContextVar("fluxloop_cassette_tape", default=None)
_INSIDE: ContextVar[bool] = ContextVar("fluxloop_cassette_inside", default=False)


def current_tape() -> Tape | None:
    """The tape of the run in progress, if any."""
    return _TAPE.get()


def active_tape() -> Tape | None:
    """The tape an interceptor should use now: None outside a run, and inside a call another
    interceptor is already recording or replaying."""
    tape = _TAPE.get()
    if tape is None or _INSIDE.get():
        return None
    return tape


@contextlib.contextmanager
def inside_call() -> Iterator[None]:
    """Calls made in this block belong to a call already on the tape (not recorded again)."""
    token = _INSIDE.set(True)
    try:
        yield
    finally:
        _INSIDE.reset(token)


def miss_line(path: Path, run: str, number: int, model: str | None, preview: str) -> str:
    """The one line a run fails with when a call has no recording in cassette ``path``."""
    return (
        f"cassette {path}: no recording for run {run}, call {number}, "
        f"model {model or '?'}, last message {preview!r}; re-record with --cassette auto"
    )


@dataclass
class TapeOutcome:
    """What a finished run did with its tape (plain data: it may come from another process).

    ``calls`` are the run's calls as ``(call number, entry)``, in call order: the recorded
    entry a call replayed, or the new entry a live call made. ``complete`` is False for a run
    cut short (cancelled, interrupted).
    """

    run_key: str
    calls: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    hits: int = 0
    new: int = 0
    misses: list[str] = field(default_factory=list)
    complete: bool = True


class TapeOwner(Protocol):
    """Where a tape gets its recordings and hands its outcome: the cassette session in this
    process, or the part of it a run took to another process."""

    @property
    def settings(self) -> CassetteSettings: ...

    def recorded(self, run_key: str) -> list[dict[str, Any]]:
        """The entries recorded for run ``run_key``, in call order."""
        ...

    def miss_line(self, run: str, number: int, model: str | None, preview: str) -> str: ...

    def finish(self, outcome: TapeOutcome) -> None:
        """Take the outcome of a finished tape."""
        ...


@dataclass(frozen=True)
class Call:
    """One model call on a tape: its number in the run, its request, and the recorded entry
    that answers it (None: make the call live and commit it)."""

    number: int
    kind: str
    digest: str
    request: Any
    model: str | None
    entry: dict[str, Any] | None


class Tape:
    """The recorded calls of one run and what this run did with them."""

    def __init__(self, session: TapeOwner, run_key: str) -> None:
        self.session = session
        self.run_key = run_key
        self.mode: Mode = session.settings.mode
        self.recorded = [] if self.mode == "record" else list(session.recorded(run_key))
        self._index: dict[str, list[int]] = {}
        for i, entry in enumerate(self.recorded):
            self._index.setdefault(entry["digest"], []).append(i)
        self._used: set[int] = set()
        self._next = 0
        self._lock = threading.Lock()
        self.calls: list[tuple[int, dict[str, Any]]] = []
        self.hits = 0
        self.new = 0
        self.misses: list[str] = []
        self._token: Any = None

    # -- context -----------------------------------------------------------------------------

    def __enter__(self) -> Tape:
        self._token = _TAPE.set(self)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        _TAPE.reset(self._token)
        # a run cut short (cancelled, interrupted) keeps its previous recording: its new
        # calls are only half the conversation
        self.session.finish(self.outcome(complete=exc_type is None))

    def outcome(self, *, complete: bool = True) -> TapeOutcome:
        """What this run did with its tape, its calls in call order."""
        with self._lock:
            calls = sorted(self.calls, key=lambda item: item[0])
            misses = list(self.misses)
        return TapeOutcome(self.run_key, calls, self.hits, self.new, misses, complete)

    # -- calls -------------------------------------------------------------------------------

    def _match(self, key: str, number: int) -> dict[str, Any] | None:
        candidates = self._index.get(key)
        if not candidates:
            return None
        unused = [i for i in candidates if i not in self._used]
        if unused:
            pick = next((i for i in unused if self.recorded[i]["call"] == number), unused[0])
        else:  # the same request again (a retry): the last answer recorded for it
            pick = candidates[-1]
        self._used.add(pick)
        return self.recorded[pick]

    def begin(self, kind: str, request: Any, *, model: str | None, preview: str) -> Call:
        """Number this call and find its recording (CassetteMiss in replay when none).
        ``request`` is masked here; ``preview`` must be masked by the caller."""
        request, key = prepare(kind, request)
        with self._lock:
            number = self._next
            self._next += 1
            entry = self._match(key, number) if self.mode != "record" else None
            if entry is not None:
                self.hits += 1
                self.calls.append((number, entry))
        if entry is None and self.mode == "replay":
            line = self.session.miss_line(self.run_key, number, model, preview)
            with self._lock:
                self.misses.append(line)
            raise CassetteMiss(line)
        return Call(number, kind, key, request, model, entry)

    def commit(self, call: Call, response: dict[str, Any], duration_ms: float) -> None:
        """Keep the response of a live call."""
        entry: dict[str, Any] = {
            "run": self.run_key,
            "call": call.number,
            "kind": call.kind,
            "digest": call.digest,
            "model": call.model,
            "request": call.request,
            "response": response,
            "duration_ms": round(duration_ms, 3),
        }
        with self._lock:
            self.new += 1
            self.calls.append((call.number, entry))

    @property
    def timing(self) -> str:
        return self.session.settings.timing


def _delay_seconds(tape: Tape, entry: dict[str, Any], until_ms: float | None = None) -> float:
    if tape.timing != "recorded":
        return 0.0
    ms = until_ms if until_ms is not None else entry.get("duration_ms")
    return max(0.0, float(ms or 0.0) / 1000.0)


def wait_sync(
    tape: Tape, entry: dict[str, Any], started: float, until_ms: float | None = None
) -> None:
    """With ``--cassette-timing recorded``: sleep until ``until_ms`` (default: the recorded
    duration) after ``started`` (a ``time.perf_counter()``)."""
    delay = _delay_seconds(tape, entry, until_ms) - (time.perf_counter() - started)
    if delay > 0:
        time.sleep(delay)


async def wait_async(
    tape: Tape, entry: dict[str, Any], started: float, until_ms: float | None = None
) -> None:
    """The async form of :func:`wait_sync`."""
    delay = _delay_seconds(tape, entry, until_ms) - (time.perf_counter() - started)
    if delay > 0:
        await asyncio.sleep(delay)
