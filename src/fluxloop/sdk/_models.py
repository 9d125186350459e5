"""Observation and trace models (see :mod:`fluxloop.models` for the public names)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ObservationType(enum.StrEnum):
    """What an observation (a span) represents."""

    SPAN = "span"
    EVENT = "event"
    GENERATION = "generation"
    TOOL = "tool"
    AGENT = "agent"
    CHAIN = "chain"
    EVALUATION = "evaluation"
    RETRIEVAL = "retrieval"
    EMBEDDING = "embedding"


class ObservationLevel(enum.StrEnum):
    """Severity of an observation; ``error`` marks a failed one."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass
class ObservationData:
    """One observation: what manual ``push_observation`` takes and ``pop_observation`` returns.

    ``id``, ``trace_id`` and ``parent_observation_id`` are filled with the OpenTelemetry span
    and trace ids (hex) when the observation is pushed.
    """

    type: ObservationType | str = ObservationType.SPAN
    name: str = "observation"
    input: Any = None
    output: Any = None
    error: str | None = None
    level: ObservationLevel | str = ObservationLevel.INFO
    metadata: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    llm_parameters: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    id: str | None = None
    trace_id: str | None = None
    parent_observation_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass
class TraceData:
    """The trace a context belongs to: identity, timing and the trace-level attributes."""

    id: str
    name: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    session_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    input: Any = None
    output: Any = None
