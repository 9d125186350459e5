"""The standard OTEL_* variables in the one resolver: argument > FLUXLOOP_* > OTEL_* > .env >
default, bad values costing one warning naming the variable while the rest still applies."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    TraceIdRatioBased,
)

from fluxloop.errors import ConfigError
from fluxloop.sdk._config import SDKConfig, resolve
from fluxloop.sdk._exporting import metric_exporter_names, span_exporter_names
from fluxloop.sdk._pipeline import make_resource


def resolved(
    explicit: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    dotenv: dict[str, str] | None = None,
) -> tuple[SDKConfig, list[str]]:
    warnings: list[str] = []
    config = resolve(
        explicit or {}, env or {}, dotenv or {}, on_invalid_env=lambda e: warnings.append(str(e))
    )
    return config, warnings


def test_precedence_table_for_the_exporters() -> None:
    # default
    assert span_exporter_names(resolved()[0]) == ("fluxloop_jsonl",)
    # .env
    config, _ = resolved(dotenv={"OTEL_TRACES_EXPORTER": "console"})
    assert span_exporter_names(config) == ("console",)
    # OTEL_* over .env (even .env's FLUXLOOP_*)
    config, _ = resolved(
        env={"OTEL_TRACES_EXPORTER": "otlp,console"}, dotenv={"FLUXLOOP_STORAGE": "file"}
    )
    assert (config.storage, span_exporter_names(config)) == ("otel", ("otlp", "console"))
    # FLUXLOOP_* over OTEL_*
    config, _ = resolved(env={"OTEL_TRACES_EXPORTER": "otlp", "FLUXLOOP_STORAGE": "file"})
    assert span_exporter_names(config) == ("fluxloop_jsonl",)
    # argument over everything
    config, _ = resolved({"storage": "none"}, env={"FLUXLOOP_STORAGE": "file"})
    assert span_exporter_names(config) == ()


@pytest.mark.parametrize(
    ("value", "storage", "names"),
    [
        ("fluxloop_jsonl", "file", ("fluxloop_jsonl",)),
        ("otlp", "otlp", ("otlp",)),
        ("otlp_proto_grpc", "otel", ("otlp_proto_grpc",)),
        ("console", "console", ("console",)),
        ("none", "none", ()),
        (" OTLP , fluxloop_jsonl ", "otel", ("otlp", "fluxloop_jsonl")),
    ],
)
def test_otel_traces_exporter_values(value: str, storage: str, names: tuple[str, ...]) -> None:
    config, warnings = resolved(env={"OTEL_TRACES_EXPORTER": value})
    assert warnings == []
    assert storage in {config.storage, "otel"}
    assert span_exporter_names(config) == names


def test_a_bare_otlp_endpoint_means_otlp() -> None:
    config, _ = resolved(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert config.storage == "otlp"
    config, _ = resolved(env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318"})
    assert config.storage == "otlp"


def test_unknown_exporter_warns_naming_variable_and_the_rest_applies() -> None:
    config, warnings = resolved(
        env={"OTEL_TRACES_EXPORTER": "otlp,jaegerx", "FLUXLOOP_SERVICE_NAME": "svc"}
    )
    assert len(warnings) == 1
    assert "OTEL_TRACES_EXPORTER" in warnings[0] and "'otlp,jaegerx'" in warnings[0]
    assert "fluxloop_jsonl" in warnings[0]  # what was expected
    assert config.storage == "file" and config.service_name == "svc"
    with pytest.raises(ConfigError):  # an argument still raises
        resolve({"storage": "s3"}, {}, {})


@pytest.mark.parametrize(
    ("name", "arg", "check"),
    [
        ("always_on", None, lambda s: s is ALWAYS_ON),
        ("always_off", None, lambda s: s is ALWAYS_OFF),
        ("traceidratio", "0.25", lambda s: isinstance(s, TraceIdRatioBased) and s.rate == 0.25),
        ("parentbased_always_on", None, lambda s: isinstance(s, ParentBased)),
        ("parentbased_always_off", None, lambda s: isinstance(s, ParentBased)),
        ("parentbased_traceidratio", "0.5", lambda s: "0.5" in s.get_description()),
    ],
)
def test_every_sdk_sampler(name: str, arg: str | None, check: object) -> None:
    env = {"OTEL_TRACES_SAMPLER": name}
    if arg is not None:
        env["OTEL_TRACES_SAMPLER_ARG"] = arg
    config, warnings = resolved(env=env)
    assert warnings == []
    assert check(config.sampler)  # type: ignore[operator]


def test_sampler_precedence_and_bad_values() -> None:
    env = {"OTEL_TRACES_SAMPLER": "always_off"}
    assert resolved({"sample_rate": 0.5}, env=env)[0].sampler is None  # argument wins
    assert resolved(env={**env, "FLUXLOOP_SAMPLE_RATE": "0.5"})[0].sampler is None
    assert resolved(dotenv=env)[0].sampler is ALWAYS_OFF
    config, warnings = resolved(env={"OTEL_TRACES_SAMPLER": "sometimes"})
    assert config.sampler is None
    assert warnings and "OTEL_TRACES_SAMPLER" in warnings[0] and "traceidratio" in warnings[0]
    assert warnings[0].count("parentbased_always_on") == 1  # each name listed once
    config, warnings = resolved(
        env={"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}
    )
    assert warnings and "OTEL_TRACES_SAMPLER_ARG" in warnings[0]


def test_resource_attributes_are_never_overwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    attrs = "deployment.environment.name=prod,service.name=from-attrs"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", attrs)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    config, _ = resolved(env={"OTEL_RESOURCE_ATTRIBUTES": attrs})
    assert config.environment == "prod"
    resource = make_resource(config)
    assert resource.attributes["deployment.environment.name"] == "prod"
    assert resource.attributes["service.name"] == "from-attrs"
    # FluxLoop's own settings, when set, win (argument / FLUXLOOP_* > OTEL_*)
    config, _ = resolved(
        {"environment": "staging"},
        env={"OTEL_RESOURCE_ATTRIBUTES": attrs, "FLUXLOOP_SERVICE_NAME": "svc"},
    )
    own = make_resource(config)
    assert own.attributes["deployment.environment.name"] == "staging"
    assert own.attributes["service.name"] == "svc"
    config, _ = resolved(env={"OTEL_RESOURCE_ATTRIBUTES": attrs, "FLUXLOOP_ENVIRONMENT": "qa"})
    assert config.environment == "qa"
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    assert make_resource(resolved()[0]).attributes["deployment.environment.name"] == "development"
    assert isinstance(resource, Resource)


def test_malformed_resource_attributes_warn_once_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attrs = "team=agents,oops,deployment.environment.name=prod"
    config, warnings = resolved(env={"OTEL_RESOURCE_ATTRIBUTES": attrs, "OTEL_SERVICE_NAME": "svc"})
    assert len(warnings) == 1
    assert "OTEL_RESOURCE_ATTRIBUTES" in warnings[0] and "'oops'" in warnings[0]
    assert "key=value" in warnings[0]
    assert config.service_name == "svc"
    # the rest still applies: the valid pairs' environment is kept, never overwritten
    assert config.environment == "prod"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", attrs)
    assert make_resource(config).attributes["deployment.environment.name"] == "prod"


def test_metrics_exporter_follows_the_storage_unless_named() -> None:
    assert metric_exporter_names(resolved()[0]) == ("fluxloop_jsonl",)
    assert metric_exporter_names(resolved({"storage": "otlp"})[0]) == ("otlp",)
    assert metric_exporter_names(resolved({"storage": "http"})[0]) == ("otlp",)
    assert metric_exporter_names(resolved({"storage": "none"})[0]) == ()
    config, _ = resolved(env={"OTEL_METRICS_EXPORTER": "none"})
    assert metric_exporter_names(config) == ()
    config, _ = resolved(env={"OTEL_METRICS_EXPORTER": "console,fluxloop_jsonl"})
    assert metric_exporter_names(config) == ("console", "fluxloop_jsonl")
    config, warnings = resolved(env={"OTEL_METRICS_EXPORTER": "prometheusx"})
    assert "OTEL_METRICS_EXPORTER" in warnings[0]


def test_otlp_timeout_and_protocol_variables() -> None:
    config, _ = resolved(
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "3", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert (config.timeout, config.otlp_protocol) == (3.0, "grpc")
    config, _ = resolved(env={"OTEL_EXPORTER_OTLP_TIMEOUT": "3", "FLUXLOOP_TIMEOUT": "7"})
    assert config.timeout == 7.0


def test_sdk_disabled_and_extra_attributes() -> None:
    assert resolved(env={"OTEL_SDK_DISABLED": "true"})[0].enabled is False
    config, warnings = resolved(env={"FLUXLOOP_EXTRA_ATTRIBUTES": "openinference"})
    assert config.extra_attributes == ("openinference",) and warnings == []
    config, warnings = resolved(env={"FLUXLOOP_EXTRA_ATTRIBUTES": "langfuse"})
    assert config.extra_attributes == () and "FLUXLOOP_EXTRA_ATTRIBUTES" in warnings[0]
