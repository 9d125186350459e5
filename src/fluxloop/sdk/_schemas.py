"""The original SDK's ``fluxloop.schemas`` names as thin typed records (:mod:`fluxloop.schemas`).

Code written against the original imports these (``from fluxloop.schemas import
ObservationType`` is what its docs show). Here they are plain dataclasses and enums with no
behaviour of their own: the trace records read any JSONL contract line (``from_record``), the
config records read the original's config keys (``from_dict``). The runner itself works on its
own resolved configuration; these are for user code that builds or inspects such data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from fluxloop.sdk._models import ObservationLevel, ObservationType

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


class TraceStatus(enum.StrEnum):
    """Where a trace's execution stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ScoreDataType(enum.StrEnum):
    """The kind of value a :class:`Score` holds."""

    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"


class VariationStrategy(enum.StrEnum):
    """Input variation strategies of ``generate inputs`` (``variation_strategies:``)."""

    REPHRASE = "rephrase"
    TYPO = "typo"
    ERROR_PRONE = "error_prone"
    VERBOSE = "verbose"
    CONCISE = "concise"
    PERSONA_BASED = "persona_based"
    ADVERSARIAL = "adversarial"
    MULTILINGUAL = "multilingual"
    CUSTOM = "custom"


E = TypeVar("E", bound=enum.StrEnum)


def _member(kind: type[E], value: str) -> E | str:
    """The enum member with ``value``, else the string itself (newer values stay readable)."""
    try:
        return kind(value)
    except ValueError:
        return value


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _duration_ms(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() * 1000 if start and end else None


@dataclass
class Score:
    """A score given to a trace or one of its observations (``value`` matches ``data_type``)."""

    trace_id: str
    name: str
    value: float | bool | str
    data_type: ScoreDataType = ScoreDataType.NUMERIC
    observation_id: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    created_at: datetime | None = None


@dataclass
class Observation:
    """One observation as stored: a JSONL contract observation record."""

    trace_id: str
    type: ObservationType | str
    name: str
    id: str | None = None
    parent_observation_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    input: Any = None
    output: Any = None
    error: str | None = None
    level: ObservationLevel | str = ObservationLevel.INFO
    status_message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    llm_parameters: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    scores: list[Score] = field(default_factory=list)

    def duration_ms(self) -> float | None:
        """Milliseconds from start to end (None while open)."""
        return _duration_ms(self.start_time, self.end_time)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Observation:
        """An observation from a contract record (``observations*.jsonl``), ids as strings."""
        kind = str(record.get("type") or "span")
        level = str(record.get("level") or "info")
        return cls(
            trace_id=str(record.get("trace_id") or ""),
            type=_member(ObservationType, kind),
            name=str(record.get("name") or ""),
            id=record.get("id"),
            parent_observation_id=record.get("parent_observation_id") or record.get("parent_id"),
            start_time=_time(record.get("start_time")),
            end_time=_time(record.get("end_time")),
            input=record.get("input"),
            output=record.get("output"),
            error=record.get("error"),
            level=_member(ObservationLevel, level),
            status_message=record.get("status_message"),
            metadata=dict(record.get("metadata") or {}),
            model=record.get("model"),
            llm_parameters=record.get("llm_parameters"),
            prompt_tokens=record.get("prompt_tokens"),
            completion_tokens=record.get("completion_tokens"),
            total_tokens=record.get("total_tokens"),
        )


@dataclass
class Trace:
    """One trace as stored: a JSONL contract trace record, optionally with its observations."""

    name: str
    id: str | None = None
    session_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    status: TraceStatus | str = TraceStatus.PENDING
    error: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    experiment_id: str | None = None
    iteration: int | None = None
    persona: str | None = None
    variation_seed: str | None = None
    input: Any = None
    output: Any = None
    observations: list[Observation] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    total_cost: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def duration_ms(self) -> float | None:
        """Milliseconds from start to end (None while open)."""
        return _duration_ms(self.start_time, self.end_time)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Trace:
        """A trace from a contract record (``traces*.jsonl``); ``status`` ``ok``/``error`` map
        to ``success``/``failed``."""
        raw = str(record.get("status") or "").lower()
        status: TraceStatus | str = {
            "ok": TraceStatus.SUCCESS,
            "unset": TraceStatus.SUCCESS,
            "error": TraceStatus.FAILED,
        }.get(raw, _member(TraceStatus, raw) if raw else TraceStatus.PENDING)
        metadata = dict(record.get("metadata") or {})
        return cls(
            name=str(record.get("name") or ""),
            id=record.get("id") or record.get("trace_id"),
            session_id=record.get("session_id"),
            start_time=_time(record.get("start_time")),
            end_time=_time(record.get("end_time")),
            status=status,
            user_id=record.get("user_id"),
            metadata=metadata,
            tags=list(record.get("tags") or []),
            iteration=metadata.get("iteration"),
            persona=metadata.get("persona"),
            input=record.get("input"),
            output=record.get("output"),
        )


@dataclass
class PersonaConfig:
    """A simulated user (``personas:`` entries)."""

    name: str
    description: str = ""
    characteristics: list[str] = field(default_factory=list)
    language: str = "en"
    expertise_level: str = "intermediate"
    goals: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    custom_attributes: dict[str, Any] = field(default_factory=dict)

    def to_prompt(self) -> str:
        """The persona as prompt text (what ``input_template``'s ``{persona}`` receives)."""
        lines = [f"You are {self.name}: {self.description}".rstrip(": ")]
        if self.characteristics:
            lines.append("Characteristics: " + ", ".join(self.characteristics))
        lines.append(f"Expertise level: {self.expertise_level}")
        if self.goals:
            lines.append("Goals: " + ", ".join(self.goals))
        if self.constraints:
            lines.append("Constraints: " + ", ".join(self.constraints))
        if self.language and self.language != "en":
            lines.append(f"Language: {self.language}")
        return "\n".join(lines)


@dataclass
class RunnerConfig:
    """How the agent is called (``runner:``): ``target`` is ``module:function``,
    ``module:Class.method`` or ``module:object.method``."""

    target: str | None = None
    module_path: str | None = None
    function_name: str = "run"
    factory: str | None = None
    factory_kwargs: dict[str, Any] = field(default_factory=dict)
    stream_output_path: str | None = None
    working_directory: str | None = None
    python_path: list[str] = field(default_factory=list)
    environment_vars: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 300
    max_retries: int = 3
    retry_delay: float = 5

    def __post_init__(self) -> None:
        if self.target and ":" in self.target and not self.module_path:
            self.module_path, _, rest = self.target.partition(":")
            self.function_name = rest or self.function_name
        elif not self.target and self.module_path:
            self.target = f"{self.module_path}:{self.function_name}"


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = set(getattr(cls, "__dataclass_fields__", {}))
    return {k: v for k, v in data.items() if k in names}


@dataclass
class ExperimentConfig:
    """An experiment configuration with the original's keys (``setting.yaml`` or the merged
    ``configs/*.yaml``). ``fluxloop config show --format json`` prints one to read back with
    :meth:`from_dict`."""

    name: str
    description: str | None = None
    iterations: int = 1
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    personas: list[PersonaConfig] = field(default_factory=list)
    base_inputs: list[dict[str, Any]] = field(default_factory=list)
    inputs_file: str | None = None
    variation_strategies: list[VariationStrategy | str] = field(default_factory=list)
    output_directory: str = "experiments"
    parallel_runs: int = 1
    run_delay_seconds: float = 0
    seed: int | None = None
    collector_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentConfig:
        """Build from a config mapping; unknown keys are ignored, ``runner.iterations`` wins
        over a top-level ``iterations`` (as in the runner)."""
        runner_raw = dict(data.get("runner") or {})
        iterations = runner_raw.pop("iterations", None) or data.get("iterations") or 1
        strategies = [
            _member(VariationStrategy, str(x).strip().lower().replace("-", "_").replace(" ", "_"))
            for x in data.get("variation_strategies") or []
        ]
        return cls(
            **{
                **_known(cls, data),
                "iterations": int(iterations),
                "runner": RunnerConfig(**_known(RunnerConfig, runner_raw)),
                "personas": [
                    PersonaConfig(**_known(PersonaConfig, p))
                    for p in data.get("personas") or []
                    if isinstance(p, Mapping) and p.get("name")
                ],
                "base_inputs": [
                    dict(b) if isinstance(b, Mapping) else {"input": str(b)}
                    for b in data.get("base_inputs") or []
                ],
                "variation_strategies": strategies,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (enums as their values)."""
        out = asdict(self)
        out["variation_strategies"] = [str(s) for s in self.variation_strategies]
        return out
