"""The FluxLoop SDK: decorators, context, configuration and per-run capture.

This package is the SDK's one public surface; its ``_`` modules are its own (the import
direction test, ``tests/test_import_direction.py``, keeps other packages out of them). It offers:

* the user API, re-exported by :mod:`fluxloop` (``agent``, ``configure``, ``FluxLoopClient``…)
  and the original SDK's models and schema names (:mod:`fluxloop.models`, :mod:`fluxloop.schemas`);
* what FluxLoop's own layers build on: :func:`capture_run` for the experiment runner and the
  pytest plugin, the runtime and span helpers for the LangChain integration, the serializer,
  the GenAI message and usage helpers, the settings resolver and the recording format (its
  reader is :mod:`fluxloop.project.recording`).
"""

from __future__ import annotations

from fluxloop.sdk._capture import RunCapture
from fluxloop.sdk._config import SDKConfig, is_true
from fluxloop.sdk._config import resolve as resolve_config
from fluxloop.sdk._context import (
    FluxLoopContext,
    event,
    get_current_context,
    get_current_trace,
    instrument,
)
from fluxloop.sdk._conventions import Convention, build_convention
from fluxloop.sdk._decorators import agent, embedding, prompt, retrieval, tool, trace
from fluxloop.sdk._genai import Usage, extract_usage, infer_provider, to_genai_messages
from fluxloop.sdk._models import ObservationData, ObservationLevel, ObservationType, TraceData
from fluxloop.sdk._readable import copy_span
from fluxloop.sdk._recording import (
    DEFAULT_RECORDING_FILE,
    MASK,
    RECORDING_VERSION,
    disable_recording,
    enable_recording,
    parse_marker,
    record_call_args,
    set_recording_options,
)
from fluxloop.sdk._recording import line_options as recording_line_options
from fluxloop.sdk._runtime import (
    INSTRUMENTATION_NAME,
    VERSION,
    FluxLoopClient,
    Runtime,
    capture_run,
    configuration_restored,
    configure,
    configure_from_environment,
    current_runtime,
    flush,
    get_config,
    install_meter_provider,
    is_configured,
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
from fluxloop.sdk._serialize import SerializeOptions, to_json
from fluxloop.sdk._span_masking import mask_spans
from fluxloop.sdk._spans import record_failure, span_attributes, start_span
from fluxloop.sdk._threads import ContextThreadPoolExecutor, propagate_context, run_in_executor
from fluxloop.sdk.envfile import read_dotenv

__all__ = [
    # the user API (fluxloop, fluxloop.models, fluxloop.schemas)
    "VERSION",
    "ContextThreadPoolExecutor",
    "ExperimentConfig",
    "FluxLoopClient",
    "FluxLoopContext",
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
    "agent",
    "configure",
    "disable_recording",
    "embedding",
    "enable_recording",
    "event",
    "flush",
    "get_config",
    "install_meter_provider",
    "is_true",
    "get_current_context",
    "get_current_trace",
    "instrument",
    "load_env",
    "prompt",
    "propagate_context",
    "record_call_args",
    "reset_config",
    "retrieval",
    "run_in_executor",
    "set_recording_options",
    "shutdown",
    "tool",
    "trace",
    # per-run capture and the runtime (runner, pytest plugin, distro)
    "RunCapture",
    "capture_run",
    "configuration_restored",
    "configure_from_environment",
    "current_runtime",
    "is_configured",
    "INSTRUMENTATION_NAME",
    "Runtime",
    # spans, conventions, serializer, GenAI helpers (integrations, collector, judge)
    "Convention",
    "SerializeOptions",
    "Usage",
    "build_convention",
    "copy_span",
    "extract_usage",
    "infer_provider",
    "mask_spans",
    "record_failure",
    "span_attributes",
    "start_span",
    "to_genai_messages",
    "to_json",
    # settings (runner, analysis)
    "read_dotenv",
    "resolve_config",
    # the recording format, for its reader (fluxloop.project.recording)
    "DEFAULT_RECORDING_FILE",
    "MASK",
    "RECORDING_VERSION",
    "parse_marker",
    "recording_line_options",
]
