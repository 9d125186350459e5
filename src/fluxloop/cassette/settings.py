"""Which cassette mode, directory and timing apply: argument > environment > config > default.

* mode: ``--cassette`` > ``FLUXLOOP_CASSETTE`` > ``cassette.mode`` > ``off``;
* directory: ``cassette.dir`` (relative to the project) > ``FLUXLOOP_CASSETTE_DIR`` >
  ``<project>/cassettes``;
* timing: ``--cassette-timing`` > ``FLUXLOOP_CASSETTE_TIMING`` > ``cassette.timing`` >
  ``instant``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from .errors import CassetteError
from .tape import MODES, TIMINGS, Mode, Timing

__all__ = ["ENV_DIR", "ENV_MODE", "ENV_TIMING", "CassetteSettings", "resolve_settings"]

ENV_MODE = "FLUXLOOP_CASSETTE"
ENV_DIR = "FLUXLOOP_CASSETTE_DIR"
ENV_TIMING = "FLUXLOOP_CASSETTE_TIMING"
DEFAULT_DIR = "cassettes"


@dataclass(frozen=True)
class CassetteSettings:
    """How model calls are recorded and replayed."""

    mode: Mode = "off"
    directory: Path = Path(DEFAULT_DIR)
    timing: Timing = "instant"

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def _choice(value: Any, choices: tuple[str, ...], where: str) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise CassetteError(f"{where}: expected one of {', '.join(choices)}, found {value!r}")
    return text


def resolve_settings(
    *,
    mode: str | None = None,
    timing: str | None = None,
    config: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> CassetteSettings:
    """The cassette settings from an explicit argument, the environment and the ``cassette``
    config section (``{mode, dir, timing}``); CassetteError on a bad value."""
    env = os.environ if env is None else env
    section = config or {}
    base = base_dir or Path.cwd()
    if mode is not None:
        chosen = _choice(mode, MODES, "--cassette")
    elif env.get(ENV_MODE):
        chosen = _choice(env[ENV_MODE], MODES, ENV_MODE)
    elif section.get("mode") is not None:
        chosen = _choice(section["mode"], MODES, "cassette.mode")
    else:
        chosen = "off"
    if timing is not None:
        pace = _choice(timing, TIMINGS, "--cassette-timing")
    elif env.get(ENV_TIMING):
        pace = _choice(env[ENV_TIMING], TIMINGS, ENV_TIMING)
    elif section.get("timing") is not None:
        pace = _choice(section["timing"], TIMINGS, "cassette.timing")
    else:
        pace = "instant"
    raw_dir = section.get("dir") or env.get(ENV_DIR) or DEFAULT_DIR
    directory = Path(os.path.expandvars(str(raw_dir))).expanduser()
    if not directory.is_absolute():
        directory = base / directory
    return CassetteSettings(cast(Mode, chosen), directory, cast(Timing, pace))
