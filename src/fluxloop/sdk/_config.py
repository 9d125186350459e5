"""The SDK's settings: one table of parameters and one resolver.

Precedence everywhere: explicit argument > FLUXLOOP_* variable > OTEL_* variable > ``.env`` file
> default (a parameter's variables are listed in that order; the process environment is read
before the ``.env`` file). Every parameter is declared once in :data:`PARAMETERS`;
``configure()``, ``get_config()``, ``load_env()`` and the CLI all go through :func:`resolve`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from fluxloop.errors import ConfigError
from fluxloop.sdk import _otel_env as otel_env
from fluxloop.sdk.masking import display_mask

Storage = Literal["file", "http", "otlp", "console", "otel", "none"]
OtlpProtocol = Literal["http/protobuf", "grpc"]

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


@dataclass(frozen=True)
class SDKConfig:
    """The resolved SDK configuration (see :data:`PARAMETERS` for each field's source)."""

    storage: Storage = "file"
    base_path: Path = Path("./traces")
    collector_url: str | None = None
    api_key: str | None = None
    otlp_protocol: OtlpProtocol = "http/protobuf"
    enabled: bool = True
    debug: bool = False
    capture_content: bool = True
    sample_rate: float = 1.0
    batch_size: int = 512
    flush_interval: float = 1.0
    max_queue_size: int = 8192
    timeout: float = 10.0
    service_name: str | None = None
    #: deployment.environment.name (OTEL_RESOURCE_ATTRIBUTES's, unless set here)
    environment: str = "development"
    max_attribute_bytes: int = 32_768
    max_depth: int = 10
    spool_dir: Path | None = None
    record_args: bool = False
    recording_file: Path | None = None
    redact: Callable[[object], object] | None = None
    sampler: Any = None
    tracer_provider: Any = None
    set_global: bool = True
    #: the span exporters the OTEL_* variables named (when they chose the storage; ``none``
    #: included): a provider FluxLoop does not own exports them already (see ``_runtime``)
    exporters: tuple[str, ...] = ()
    #: the metric exporters (OTEL_METRICS_EXPORTER); None: those matching the storage
    metrics_exporter: tuple[str, ...] | None = None
    #: attribute dialects written beside the GenAI conventions on OTLP export ("openinference")
    extra_attributes: tuple[str, ...] = ()

    def masked(self) -> dict[str, Any]:
        """The settings as a plain dict with the API key masked (safe to print or store)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key" and value:
                value = display_mask(str(value))
            elif isinstance(value, Path):
                value = str(value)
            elif callable(value) or f.name in {"sampler", "tracer_provider"}:
                value = None if value is None else type(value).__name__
            out[f.name] = value
        return out


# -- converters: each takes the raw value (str from env, anything from code) and the key ----------


def is_true(value: object) -> bool:
    """Whether a setting's value reads as true the way FluxLoop reads booleans (``1``, ``true``,
    ``yes``, ``on``, ``y``, ``t``, any case); anything else, ``None`` included, is false."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    return str(value).strip().lower() in _TRUE


def _to_bool(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError.for_value(key, "a boolean (true/false)", value)


def _to_int(minimum: int, maximum: int | None = None) -> Callable[[object, str], int]:
    def convert(value: object, key: str) -> int:
        number: int | None = None
        if isinstance(value, int | str) and not isinstance(value, bool):
            try:
                number = int(value)
            except ValueError:
                number = None
        if number is None or number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ConfigError.for_value(key, f"an integer {bound}", value)
        return number

    return convert


def _to_float(low: float, high: float | None) -> Callable[[object, str], float]:
    def convert(value: object, key: str) -> float:
        try:
            number = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number) or number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise ConfigError.for_value(key, f"a number {bound}", value)
        return number

    return convert


def _choice(*allowed: str) -> Callable[[object, str], str]:
    def convert(value: object, key: str) -> str:
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text not in allowed:
            raise ConfigError.for_value(key, "one of " + ", ".join(allowed), value)
        return str(text)

    return convert


def _protocol(value: object, key: str) -> str:
    text = str(value).strip().lower()
    aliases = {"http": "http/protobuf", "http/protobuf": "http/protobuf", "grpc": "grpc"}
    if text not in aliases:
        raise ConfigError.for_value(key, "one of http/protobuf, grpc", value)
    return aliases[text]


def _text(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError.for_value(key, "a string", value)
    return value.strip() or None


def _url(value: object, key: str) -> str | None:
    text = _text(value, key)
    if value is not None and text is None:  # an empty URL is a mistake, not "no collector"
        raise ConfigError.for_value(key, "an http:// or https:// URL", value)
    if text is not None and not text.startswith(("http://", "https://")):
        raise ConfigError.for_value(key, "an http:// or https:// URL", value)
    return text.rstrip("/") if text is not None else None


def _path(value: object, key: str) -> Path | None:
    if value is None:
        return None
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        return Path(text).expanduser() if str(text).strip() else None
    raise ConfigError.for_value(key, "a file system path", value)


def _callable(value: object, key: str) -> object:
    if value is not None and not callable(value):
        raise ConfigError.for_value(key, "a callable or None", value)
    return value


def _any(value: object, key: str) -> object:
    return value


def _storage(value: object, key: str) -> str | tuple[str, ...]:
    """FLUXLOOP_STORAGE (or the argument) names a storage; OTEL_TRACES_EXPORTER names exporters
    (a tuple, see :func:`resolve`); an OTLP endpoint variable alone means ``otlp``."""
    if key == "OTEL_TRACES_EXPORTER":
        return _TRACES_EXPORTERS(value, key) or ()
    if key in _ENDPOINT_ENV:  # what the standard variables mean: OTLP there
        return ("otlp",) if _url(value, key) else "file"
    return _choice("file", "http", "otlp", "console", "none")(value, key)


_TRACES_EXPORTERS = otel_env.exporter_names("traces")
_ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def _dialects(value: object, key: str) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = tuple(dict.fromkeys(str(n).strip().lower() for n in items if str(n).strip()))
    if any(n not in _DIALECTS for n in names):
        raise ConfigError.for_value(key, "a comma list of " + ", ".join(_DIALECTS), value)
    return names


_DIALECTS = ("openinference",)


def _capture_mode(value: object, key: str) -> bool:
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: NO_CONTENT turns capture off."""
    text = str(value).strip().upper()
    if text in {"NO_CONTENT", "FALSE"}:
        return False
    if text in {"SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT", "TRUE"}:
        return True
    raise ConfigError.for_value(
        key, "one of NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT", value
    )


@dataclass(frozen=True)
class Parameter:
    """One setting: its name, the environment variables that may set it, and how to parse it."""

    name: str
    convert: Callable[[object, str], Any]
    env: tuple[str, ...] = ()
    doc: str = ""


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "storage",
        _storage,
        ("FLUXLOOP_STORAGE", "OTEL_TRACES_EXPORTER", *_ENDPOINT_ENV),
        "where spans go: JSONL files, the FluxLoop collector, any OTLP endpoint, the console, "
        "or nowhere",
    ),
    Parameter(
        "base_path",
        _path,
        ("FLUXLOOP_BASE_PATH", "FLUXLOOP_OFFLINE_DIR"),
        "directory of the JSONL files",
    ),
    Parameter("collector_url", _url, ("FLUXLOOP_COLLECTOR_URL",), "collector / OTLP endpoint"),
    Parameter("api_key", _text, ("FLUXLOOP_API_KEY",), "sent as Authorization: Bearer KEY"),
    Parameter(
        "otlp_protocol",
        _protocol,
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        "http/protobuf (default) or grpc",
    ),
    Parameter(
        "enabled", _to_bool, ("FLUXLOOP_ENABLED",), "kill switch: False makes decorators near-free"
    ),
    Parameter("debug", _to_bool, ("FLUXLOOP_DEBUG",), "log FluxLoop internals at DEBUG"),
    Parameter(
        "capture_content",
        _to_bool,
        ("FLUXLOOP_CAPTURE_CONTENT",),
        "record inputs and outputs (on by default: FluxLoop is a test tool)",
    ),
    Parameter(
        "sample_rate", _to_float(0.0, 1.0), ("FLUXLOOP_SAMPLE_RATE",), "fraction of traces kept"
    ),
    Parameter(
        "batch_size",
        _to_int(1, 100),  # the original's range; unset, FluxLoop exports up to 512 per batch
        ("FLUXLOOP_BATCH_SIZE",),
        "spans per export batch",
    ),
    Parameter(
        "flush_interval",
        _to_float(0.001, None),
        ("FLUXLOOP_FLUSH_INTERVAL",),
        "seconds between background exports",
    ),
    Parameter(
        "max_queue_size", _to_int(1), ("FLUXLOOP_MAX_QUEUE_SIZE",), "in-memory span queue bound"
    ),
    Parameter(
        "timeout",
        _to_float(0.001, None),
        ("FLUXLOOP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        "export timeout in seconds (OTLP variables in seconds too, as the Python SDK reads them)",
    ),
    Parameter(
        "service_name", _text, ("FLUXLOOP_SERVICE_NAME", "OTEL_SERVICE_NAME"), "service.name"
    ),
    Parameter("environment", _text, ("FLUXLOOP_ENVIRONMENT",), "deployment.environment.name"),
    Parameter(
        "max_attribute_bytes",
        _to_int(256),
        ("FLUXLOOP_MAX_ATTRIBUTE_BYTES",),
        "size bound of one captured input/output attribute",
    ),
    Parameter("max_depth", _to_int(1), ("FLUXLOOP_MAX_DEPTH",), "nesting bound of captured values"),
    Parameter("spool_dir", _path, ("FLUXLOOP_SPOOL_DIR",), "where unsent OTLP spans wait"),
    Parameter(
        "record_args", _to_bool, ("FLUXLOOP_RECORD_ARGS",), "record call arguments for replay"
    ),
    Parameter("recording_file", _path, ("FLUXLOOP_RECORDING_FILE",), "the recording JSONL file"),
    Parameter("redact", _callable, (), "hook run on every captured value before export"),
    Parameter("sampler", _any, (), "any OpenTelemetry sampler (overrides sample_rate)"),
    Parameter("tracer_provider", _any, (), "an SDK TracerProvider to add FluxLoop's processor to"),
    Parameter("set_global", _to_bool, (), "install FluxLoop's provider globally when none is set"),
    Parameter(
        "metrics_exporter",
        otel_env.exporter_names("metrics"),
        ("OTEL_METRICS_EXPORTER",),
        "GenAI metrics exporters (default: JSONL with file storage, OTLP with the OTLP storages)",
    ),
    Parameter(
        "extra_attributes",
        _dialects,
        ("FLUXLOOP_EXTRA_ATTRIBUTES",),
        "attribute dialects also written on OTLP export (openinference)",
    ),
)

#: Environment variables read by other parameters in a special way (see :func:`resolve`).
_CAPTURE_MODE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_OTEL_DISABLED_ENV = "OTEL_SDK_DISABLED"
_SAMPLER_ENV = "OTEL_TRACES_SAMPLER"
_SAMPLER_ARG_ENV = "OTEL_TRACES_SAMPLER_ARG"
_RESOURCE_ENV = "OTEL_RESOURCE_ATTRIBUTES"

#: Keyword names of the original SDK, accepted so its configure() calls keep working (each
#: costs one deprecation warning per process, see :mod:`fluxloop.sdk._legacy`).
LEGACY_ALIASES: Mapping[str, str] = {
    "offline_store_dir": "base_path",
    "offline_store_enabled": "storage",
    "use_collector": "storage",
}
#: The original SDK's variables: FLUXLOOP_OFFLINE_DIR is read with base_path (above); these
#: two choose the storage when FLUXLOOP_STORAGE is not set.
_USE_COLLECTOR_ENV = "FLUXLOOP_USE_COLLECTOR"
_OFFLINE_ENABLED_ENV = "FLUXLOOP_OFFLINE_ENABLED"
LEGACY_ENV: tuple[str, ...] = ("FLUXLOOP_OFFLINE_DIR", _USE_COLLECTOR_ENV, _OFFLINE_ENABLED_ENV)


def legacy_storage(use_collector: bool | None, offline_enabled: bool | None) -> str | None:
    """The storage the original's flags meant: the collector (its offline store is our
    spool), JSONL files, or nothing when both are off."""
    if use_collector:
        return "http"
    if use_collector is False or offline_enabled is not None:
        return "file" if offline_enabled is not False else "none"
    return None


_BY_NAME: Mapping[str, Parameter] = {p.name: p for p in PARAMETERS}


def parameter_names() -> tuple[str, ...]:
    """The names ``configure()`` accepts."""
    return tuple(_BY_NAME)


def resolve(
    explicit: Mapping[str, object],
    environ: Mapping[str, str],
    dotenv: Mapping[str, str],
    *,
    on_invalid_env: Callable[[ConfigError], None] | None = None,
) -> SDKConfig:
    """Resolve every parameter: explicit > FLUXLOOP_* > OTEL_* > ``.env`` file > default.

    Raises :class:`ConfigError` naming the key (or variable), what was expected and what was
    found, for an unknown key or an invalid value. With ``on_invalid_env``, an invalid
    environment or ``.env`` value is reported to it instead and skipped (the next layer, or
    the default, applies): a variable set wrong around an application must not break it.
    """
    explicit = _normalise_explicit(explicit)

    def from_env(var: str, raw: str, convert: Callable[[str, str], Any]) -> Any:
        try:
            return convert(raw, var)
        except ConfigError as exc:
            if on_invalid_env is None:
                raise
            on_invalid_env(exc)
            return None

    resolved: dict[str, Any] = {}
    for param in PARAMETERS:
        if param.name in explicit:
            resolved[param.name] = param.convert(explicit[param.name], param.name)
            continue
        found = _first_set(param.env, (environ, dotenv), param.convert, from_env)
        if found is not None:
            resolved[param.name] = found
    if "capture_content" not in resolved:
        mode = _first_set((_CAPTURE_MODE_ENV,), (environ, dotenv), _capture_mode, from_env)
        if mode is not None:
            resolved["capture_content"] = mode
    if "enabled" not in explicit and _first_set(
        (_OTEL_DISABLED_ENV,), (environ,), _to_bool, from_env
    ):
        resolved["enabled"] = False
    layers = (environ, dotenv)
    if "storage" not in explicit and not any(
        (layer.get("FLUXLOOP_STORAGE") or "").strip() for layer in layers
    ):
        # the original's FLUXLOOP_* flags rank above the OTEL_* variables
        storage = legacy_storage(
            _first_set((_USE_COLLECTOR_ENV,), layers, _to_bool, from_env),
            _first_set((_OFFLINE_ENABLED_ENV,), layers, _to_bool, from_env),
        )
        if storage is not None:
            resolved["storage"] = storage
    storage = resolved.get("storage")
    if isinstance(storage, tuple):  # OTEL_TRACES_EXPORTER chose the exporters
        resolved["storage"], resolved["exporters"] = otel_env.storage_for(storage), storage
    if "sampler" not in resolved and "sample_rate" not in resolved:
        sampler = _otel_sampler(layers, from_env)
        if sampler is not None:
            resolved["sampler"] = sampler
    resource = _resource_attributes(layers, from_env)
    if "environment" not in resolved and resource:
        # a deployment.environment.name set there is the environment (never overwritten)
        found = resource.get("deployment.environment.name") or resource.get(
            "deployment.environment"
        )
        if found:
            resolved["environment"] = found
    return SDKConfig(**{k: v for k, v in resolved.items() if v is not None or k in explicit})


def _resource_attributes(
    layers: Sequence[Mapping[str, str]],
    from_env: Callable[[str, str, Callable[[str, str], Any]], Any],
) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES of the first layer that sets it: a malformed pair costs one
    warning (``from_env``) and the well-formed pairs still apply."""
    for layer in layers:
        raw = layer.get(_RESOURCE_ENV)
        if raw is not None and raw.strip():
            from_env(_RESOURCE_ENV, raw, otel_env.parse_resource_attributes)
            return otel_env.valid_resource_pairs(raw)[0]
    return {}


def _otel_sampler(
    layers: Sequence[Mapping[str, str]],
    from_env: Callable[[str, str, Callable[[str, str], Any]], Any],
) -> Any:
    """OTEL_TRACES_SAMPLER with the OTEL_TRACES_SAMPLER_ARG of the same layer."""
    for layer in layers:
        name = layer.get(_SAMPLER_ENV)
        if name and name.strip():
            arg = layer.get(_SAMPLER_ARG_ENV)

            def convert(value: str, key: str, arg: str | None = arg) -> Any:
                return otel_env.sampler_from_env(value, arg, key)

            return from_env(_SAMPLER_ENV, name, convert)
    return None


def _first_set(
    names: Sequence[str],
    layers: Sequence[Mapping[str, str]],
    convert: Callable[[str, str], Any],
    from_env: Callable[[str, str, Callable[[str, str], Any]], Any],
) -> Any:
    """The first valid value among ``names`` in ``layers`` (in order), converted."""
    for layer in layers:
        for var in names:
            raw = layer.get(var)
            if raw is not None and raw.strip() != "":
                value = from_env(var, raw, convert)
                if value is not None:
                    return value
    return None


def _normalise_explicit(explicit: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    flags: dict[str, bool] = {}
    for key, value in explicit.items():
        if key in LEGACY_ALIASES:
            if LEGACY_ALIASES[key] == "storage":
                flags[key] = _to_bool(value, key)
            else:
                out.setdefault(LEGACY_ALIASES[key], value)
            continue
        if key not in _BY_NAME:
            raise ConfigError(
                f"configure(): unknown setting {key!r}; expected one of: "
                + ", ".join(sorted(_BY_NAME))
                + _suggest(key),
                key=key,
                expected="a known setting",
                found=key,
            )
        out[key] = value
    if flags and "storage" not in explicit:
        storage = legacy_storage(flags.get("use_collector"), flags.get("offline_store_enabled"))
        if storage is not None:
            out["storage"] = storage
    return out


def _suggest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(_BY_NAME), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
