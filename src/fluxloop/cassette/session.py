"""A cassette in use: settings, the file, the interceptors, one tape per run, and the tally.

::

    session = CassetteSession.open(settings, name="demo", target="agent:run", scope="run")
    with session.tape("0|alice|3fa2|0"):
        ...  # model calls of that run are recorded / replayed
    session.close()  # writes the cassette (atomically) and the usage file

Finished tapes are folded into the cassette as runs end: in ``record`` mode a run's entries
are replaced by what it just recorded; in ``auto`` a run that recorded anything gets exactly
the calls it made (replayed and new) in call order; ``replay`` never changes the file. The
cassette is saved at most once a second while runs go on, and when the session closes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .errors import CassetteMiss
from .format import entry_id
from .intercept import install_interceptors
from .remote import ShippedTape
from .settings import CassetteSettings
from .store import Cassette, cassette_path
from .tape import Tape, TapeOutcome, miss_line

__all__ = ["CassetteSession", "CassetteStats", "use_cassette"]

SAVE_INTERVAL_SECONDS = 1.0


@dataclass
class CassetteStats:
    """What a session did: calls replayed, recorded, missing; runs re-recorded."""

    replayed: int = 0
    recorded: int = 0
    missing: int = 0
    runs_recorded: int = 0
    misses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "recorded": self.recorded,
            "missing": self.missing,
            "runs_recorded": self.runs_recorded,
        }


class CassetteSession:
    """One command's use of one cassette file."""

    def __init__(self, settings: CassetteSettings, cassette: Cassette, scope: str) -> None:
        self.settings = settings
        self.cassette = cassette
        self.scope = scope
        self.stats = CassetteStats()
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self._last_save = time.monotonic()

    @classmethod
    def open(
        cls, settings: CassetteSettings, *, name: str, target: str | None, scope: str
    ) -> CassetteSession | None:
        """The session for cassette ``name`` (None when the mode is ``off``). Reads and checks
        the file (CassetteError before anything runs) and installs the interceptors."""
        if not settings.enabled:
            return None
        path = cassette_path(settings.directory, name)
        cassette = Cassette.open(path, name=name, target=target)
        install_interceptors()
        return cls(settings, cassette, scope)

    @property
    def mode(self) -> str:
        return self.settings.mode

    def key(self, run_key: str) -> str:
        """The key a run's entries are stored under: ``<scope>:<run key>``."""
        return f"{self.scope}:{run_key}"

    @contextmanager
    def tape(self, run_key: str) -> Iterator[Tape]:
        """Make the tape of run ``run_key`` current for the block."""
        with Tape(self, self.key(run_key)) as tape:
            yield tape

    def recorded(self, run_key: str) -> list[dict[str, Any]]:
        """The entries recorded for run ``run_key`` (its scoped key), in call order."""
        return self.cassette.run(run_key)

    def ship(self, run_key: str) -> ShippedTape:
        """What run ``run_key`` needs of this cassette to execute in another process: the
        settings and the run's recorded entries (none in ``record`` mode, where a tape never
        replays). Its :class:`~fluxloop.cassette.remote.ReturnedTape` comes back to
        :meth:`finish` through :meth:`ReturnedTape.resolve`."""
        key = self.key(run_key)
        entries = () if self.mode == "record" else tuple(self.recorded(key))
        return ShippedTape(self.settings, self.cassette.path, key, entries)

    def miss_line(self, run: str, number: int, model: str | None, preview: str) -> str:
        """The one line a run fails with when a call has no recording."""
        return miss_line(self.cassette.path, run, number, model, preview)

    def finish(self, outcome: TapeOutcome) -> None:
        """Fold a finished run's tape into the cassette (its new calls only when the run is
        ``complete``: ended, successfully or not, rather than cancelled)."""
        calls = outcome.calls
        rerecord = outcome.new > 0 and not outcome.misses and outcome.complete
        with self._lock:
            self.stats.replayed += outcome.hits
            self.stats.recorded += outcome.new
            self.stats.missing += len(outcome.misses)
            self.stats.misses.extend(outcome.misses)
            if rerecord:
                self.stats.runs_recorded += 1
        if rerecord:
            self.cassette.replace_run(outcome.run_key, [entry for _, entry in calls])
            ids = {entry_id(e) for e in self.cassette.run(outcome.run_key)}
        else:
            ids = {entry_id(entry) for _, entry in calls if "run" in entry}
        with self._lock:
            self._used.update(ids)
            due = time.monotonic() - self._last_save >= SAVE_INTERVAL_SECONDS
            if due:
                self._last_save = time.monotonic()
        if due:
            self.cassette.save()

    def close(self) -> None:
        """Write the cassette (when changed) and which entries this session used."""
        self.cassette.save()
        if self._used or self.stats.replayed or self.stats.recorded:
            self.cassette.write_usage({self.scope: set(self._used)})

    def summary(self) -> dict[str, Any]:
        """For ``summary.json``: mode, file and counts."""
        return {
            "mode": self.mode,
            "timing": self.settings.timing,
            "file": str(self.cassette.path),
            **self.stats.as_dict(),
        }

    def describe(self) -> str:
        """``cassettes/demo.jsonl (replay): 40 replayed, 0 recorded, 0 missing``."""
        s = self.stats
        return (
            f"cassette {self.cassette.path} ({self.mode}): {s.replayed} replayed, "
            f"{s.recorded} recorded, {s.missing} missing"
        )


@contextmanager
def use_cassette(
    settings: CassetteSettings,
    *,
    name: str,
    target: str | None,
    scope: str,
    key: str = "all",
) -> Iterator[Tape | None]:
    """One tape for a whole command (input generation, the judge, one pytest test): opens the
    cassette (CassetteError before the block runs), saves it after, and raises
    :class:`CassetteMiss` with the first miss line when a call had no recording."""
    session = CassetteSession.open(settings, name=name, target=target, scope=scope)
    if session is None:
        yield None
        return
    try:
        with session.tape(key) as tape:
            yield tape
    finally:
        session.close()
    if tape.misses:
        raise CassetteMiss(tape.misses[0])
