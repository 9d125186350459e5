"""How a cassette goes wrong: a bad file (exit 2 before any run), a call with no recording."""

from __future__ import annotations

from fluxloop.errors import ConfigError, FluxLoopError

__all__ = ["CassetteError", "CassetteMiss"]


class CassetteError(ConfigError):
    """A cassette file cannot be used: corrupt or truncated line, unknown version, recorded for
    another target. One line naming the file (and line); exit code 2."""


class CassetteMiss(FluxLoopError):
    """A model call in ``replay`` mode has no recording. The message is the one line the run
    fails with: run key, call number, model, the start of the last message, and the hint to
    re-record with ``--cassette auto``."""
