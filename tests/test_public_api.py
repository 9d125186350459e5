"""The public API is curated: this test pins it, so a change to it is deliberate."""

from __future__ import annotations

import fluxloop
import fluxloop.models

EXPECTED = {
    "ConfigError",
    "ContextThreadPoolExecutor",
    "FluxLoopClient",
    "FluxLoopContext",
    "FluxLoopError",
    "ObservationData",
    "ObservationLevel",
    "ObservationType",
    "SDKConfig",
    "TraceData",
    # the original SDK's schema names (fluxloop.schemas), re-exported as it did
    "ExperimentConfig",
    "Observation",
    "PersonaConfig",
    "RunnerConfig",
    "Score",
    "ScoreDataType",
    "Trace",
    "TraceStatus",
    "VariationStrategy",
    "schemas",
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
    "set_recording_options",
    "shutdown",
    "tool",
    "trace",
}


def test_public_api_is_pinned() -> None:
    assert set(fluxloop.__all__) == EXPECTED
    for name in fluxloop.__all__:
        assert getattr(fluxloop, name) is not None


def test_models_module() -> None:
    assert set(fluxloop.models.__all__) == {
        "ObservationData",
        "ObservationLevel",
        "ObservationType",
        "TraceData",
    }


def test_public_callables_have_docstrings() -> None:
    for name in fluxloop.__all__:
        obj = getattr(fluxloop, name)
        if callable(obj):
            assert obj.__doc__, name


def test_schemas_module_has_the_original_names() -> None:
    import fluxloop.schemas
    from fluxloop.schemas import ObservationType

    assert set(fluxloop.schemas.__all__) == {
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
    }
    assert ObservationType is fluxloop.models.ObservationType is fluxloop.ObservationType
    for name in fluxloop.schemas.__all__:
        assert getattr(fluxloop, name) is getattr(fluxloop.schemas, name)
        assert getattr(fluxloop.schemas, name).__doc__
