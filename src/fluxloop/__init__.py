"""FluxLoop: see, test and gate AI agents with OpenTelemetry.

Decorate an agent (``@fluxloop.agent``, ``@fluxloop.tool``, ``@fluxloop.prompt``, …) and every
call becomes an OpenTelemetry span following the GenAI semantic conventions, written to JSONL
files (the FluxLoop contract) or shipped over OTLP. ``configure()`` is optional.
"""

from __future__ import annotations

from fluxloop import models, schemas
from fluxloop.errors import ConfigError, FluxLoopError
from fluxloop.sdk._config import SDKConfig
from fluxloop.sdk._context import (
    FluxLoopContext,
    event,
    get_current_context,
    get_current_trace,
    instrument,
)
from fluxloop.sdk._decorators import agent, embedding, prompt, retrieval, tool, trace
from fluxloop.sdk._models import ObservationData, ObservationLevel, ObservationType, TraceData
from fluxloop.sdk._recording import (
    disable_recording,
    enable_recording,
    record_call_args,
    set_recording_options,
)
from fluxloop.sdk._runtime import (
    VERSION as __version__,
)
from fluxloop.sdk._runtime import (
    FluxLoopClient,
    configure,
    flush,
    get_config,
    load_env,
    reset_config,
    shutdown,
)
from fluxloop.sdk._schemas import (
    ExperimentConfig,
    Observation,
    PersonaConfig,
    RunnerConfig,
    Score,
    ScoreDataType,
    Trace,
    TraceStatus,
    VariationStrategy,
)
from fluxloop.sdk._threads import ContextThreadPoolExecutor, propagate_context, run_in_executor

__all__ = [
    "ConfigError",
    "ContextThreadPoolExecutor",
    "ExperimentConfig",
    "FluxLoopClient",
    "FluxLoopContext",
    "FluxLoopError",
    "Observation",
    "ObservationData",
    "ObservationLevel",
    "ObservationType",
    "PersonaConfig",
    "RunnerConfig",
    "SDKConfig",
    "Score",
    "ScoreDataType",
    "Trace",
    "TraceData",
    "TraceStatus",
    "VariationStrategy",
    "__version__",
    "agent",
    "configure",
    "disable_recording",
    "embedding",
    "enable_recording",
    "event",
    "flush",
    "get_config",
    "get_current_context",
    "get_current_trace",
    "instrument",
    "load_env",
    "models",
    "prompt",
    "propagate_context",
    "record_call_args",
    "reset_config",
    "retrieval",
    "run_in_executor",
    "schemas",
    "set_recording_options",
    "shutdown",
    "tool",
    "trace",
]
