"""The original FluxLoop SDK's schema names (``from fluxloop.schemas import ObservationType``).

Thin, typed records for code written against the original: :class:`Trace` and
:class:`Observation` read the JSONL contract's records (``from_record``), :class:`Score` holds an
evaluation value, :class:`ExperimentConfig` / :class:`RunnerConfig` / :class:`PersonaConfig` read
the original's config keys (``ExperimentConfig.from_dict``), and the enums give the allowed
values. ``ObservationType`` and ``ObservationLevel`` are the same objects as in
:mod:`fluxloop.models`.
"""

from __future__ import annotations

from fluxloop.sdk import (
    ExperimentConfig,
    Observation,
    ObservationLevel,
    ObservationType,
    PersonaConfig,
    RunnerConfig,
    Score,
    ScoreDataType,
    Trace,
    TraceStatus,
    VariationStrategy,
)

__all__ = [
    "ExperimentConfig",
    "Observation",
    "ObservationLevel",
    "ObservationType",
    "PersonaConfig",
    "RunnerConfig",
    "Score",
    "ScoreDataType",
    "Trace",
    "TraceStatus",
    "VariationStrategy",
]
