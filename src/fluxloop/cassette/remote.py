"""A run's tape in another process: what the run takes along, and what it brings back.

When runs execute in other processes (``--executor ray``), the cassette stays with the process
that opened it (the driver), which reads and writes the file. Each run takes a
:class:`ShippedTape` along: the settings, the cassette's path (for the miss line) and the
entries recorded for that run only. In the worker, :meth:`ShippedTape.play` makes a tape of
them current around the run, with the same matching and the same strictness as a tape in the
driver (a miss in ``replay`` raises :class:`~fluxloop.cassette.errors.CassetteMiss` there and
fails the run). The run brings back a :class:`ReturnedTape`: the calls it replayed as
positions in the shipped entries (they are not sent back) and the new entries it recorded,
masked as they were made; the driver resolves it (:meth:`ReturnedTape.resolve`) and folds it
into the cassette with :meth:`CassetteSession.finish`, as it does a run of its own.

Everything here is plain, picklable data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .intercept import install_interceptors
from .settings import CassetteSettings
from .tape import Tape, TapeOutcome, miss_line

__all__ = ["ReturnedTape", "ShippedTape", "TapePlayer"]


@dataclass(frozen=True)
class ShippedTape:
    """One run's part of a cassette, taken to the process that executes the run."""

    settings: CassetteSettings
    path: Path  # the cassette file in the driver: named by the miss line
    run_key: str  # the scoped key (``run:<run key>``)
    entries: tuple[dict[str, Any], ...]

    @contextmanager
    def play(self) -> Iterator[TapePlayer]:
        """Make the run's tape current for the block (installing the interceptors first);
        after it, :attr:`TapePlayer.returned` is what goes back to the driver."""
        install_interceptors()
        player = TapePlayer(self)
        with Tape(player, self.run_key):
            yield player


class TapePlayer:
    """The tape owner in the worker: recordings from the shipped entries, the outcome kept."""

    def __init__(self, shipped: ShippedTape) -> None:
        self.shipped = shipped
        self.returned: ReturnedTape | None = None

    @property
    def settings(self) -> CassetteSettings:
        return self.shipped.settings

    def recorded(self, run_key: str) -> list[dict[str, Any]]:
        return list(self.shipped.entries) if run_key == self.shipped.run_key else []

    def miss_line(self, run: str, number: int, model: str | None, preview: str) -> str:
        return miss_line(self.shipped.path, run, number, model, preview)

    def finish(self, outcome: TapeOutcome) -> None:
        self.returned = ReturnedTape.of(outcome, self.shipped.entries)


@dataclass
class ReturnedTape:
    """A finished tape on its way back: a replayed call as the position of its shipped entry,
    a live call as its new entry."""

    run_key: str
    calls: list[tuple[int, int | dict[str, Any]]] = field(default_factory=list)
    hits: int = 0
    new: int = 0
    misses: list[str] = field(default_factory=list)
    complete: bool = True

    @classmethod
    def of(cls, outcome: TapeOutcome, shipped: tuple[dict[str, Any], ...]) -> ReturnedTape:
        position = {id(entry): i for i, entry in enumerate(shipped)}
        calls: list[tuple[int, int | dict[str, Any]]] = [
            (number, position.get(id(entry), entry)) for number, entry in outcome.calls
        ]
        return cls(
            outcome.run_key, calls, outcome.hits, outcome.new, outcome.misses, outcome.complete
        )

    def resolve(self, shipped: ShippedTape) -> TapeOutcome:
        """The outcome, with each replayed call's entry taken from what was shipped."""
        calls = [
            (number, shipped.entries[ref] if isinstance(ref, int) else ref)
            for number, ref in self.calls
        ]
        return TapeOutcome(self.run_key, calls, self.hits, self.new, self.misses, self.complete)
