"""Model-call cassettes: record an experiment's LLM calls once, replay them offline.

A cassette is one file per experiment name (``cassettes/<name>.jsonl``) holding every model
call of every run, keyed by run (input, persona, iteration) and call order plus the normalised
request. Calls are intercepted at two places: langchain-core chat models (any provider) and
the ``httpx`` / ``httpx2`` transports the OpenAI and Anthropic SDKs use.

* :mod:`~fluxloop.cassette.format`: the versioned JSON Lines file, read strictly, written
  atomically;
* :mod:`~fluxloop.cassette.store`: entries by run, the usage sidecar for ``prune``;
* :mod:`~fluxloop.cassette.normalize`: masking and the request digest;
* :mod:`~fluxloop.cassette.tape`: one run's matching and recording;
* :mod:`~fluxloop.cassette.http` / :mod:`~fluxloop.cassette.langchain`: the interceptors;
* :mod:`~fluxloop.cassette.settings` / :mod:`~fluxloop.cassette.session`: modes and use;
* :mod:`~fluxloop.cassette.remote`: a run's tape taken to another process and back.

It depends on :mod:`fluxloop.sdk` (masking) and :mod:`fluxloop.llm` only.
"""

from __future__ import annotations

from .errors import CassetteError, CassetteMiss
from .format import FORMAT_VERSION, entry_id, read_cassette, write_cassette
from .remote import ReturnedTape, ShippedTape
from .session import CassetteSession, CassetteStats, use_cassette
from .settings import ENV_DIR, ENV_MODE, ENV_TIMING, CassetteSettings, resolve_settings
from .store import Cassette, cassette_path, scope_of
from .tape import MODES, TIMINGS, Mode, Tape, TapeOutcome, Timing, current_tape

__all__ = [
    "ENV_DIR",
    "ENV_MODE",
    "ENV_TIMING",
    "FORMAT_VERSION",
    "MODES",
    "TIMINGS",
    "Cassette",
    "CassetteError",
    "CassetteMiss",
    "CassetteSession",
    "CassetteSettings",
    "CassetteStats",
    "Mode",
    "ReturnedTape",
    "ShippedTape",
    "Tape",
    "TapeOutcome",
    "Timing",
    "cassette_path",
    "current_tape",
    "entry_id",
    "read_cassette",
    "resolve_settings",
    "scope_of",
    "use_cassette",
    "write_cassette",
]
