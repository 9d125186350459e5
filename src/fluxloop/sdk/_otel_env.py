"""The standard ``OTEL_*`` variables, read the way FluxLoop's one resolver needs them.

Converters here take ``(raw value, variable name)`` like every converter of
:mod:`fluxloop.sdk._config` and raise :class:`ConfigError` naming the variable, the expected and
the found value; the resolver turns that into one warning and ignores the variable.

Which exporters and samplers exist is what the OpenTelemetry SDK documents: the built-in names
plus whatever ``opentelemetry_traces_exporter`` / ``opentelemetry_metrics_exporter`` /
``opentelemetry_traces_sampler`` entry points are installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from urllib.parse import unquote

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from fluxloop.errors import ConfigError

__all__ = [
    "BUILTIN_SAMPLERS",
    "OTLP_EXPORTERS",
    "exporter_names",
    "installed_exporters",
    "parse_resource_attributes",
    "sampler_from_env",
    "storage_for",
    "valid_resource_pairs",
]

#: OTLP exporter names of OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER (the protocol they imply).
OTLP_EXPORTERS = {"otlp": None, "otlp_proto_http": "http/protobuf", "otlp_proto_grpc": "grpc"}
_BUILTIN_EXPORTERS = frozenset({*OTLP_EXPORTERS, "console", "none", "fluxloop_jsonl"})

BUILTIN_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


@cache
def installed_exporters(signal: str) -> frozenset[str]:
    """Names of the ``opentelemetry_{signal}_exporter`` entry points installed."""
    try:
        return frozenset(e.name for e in entry_points(group=f"opentelemetry_{signal}_exporter"))
    except Exception:  # pragma: no cover - broken metadata must not break configuration
        return frozenset()


def exporter_names(signal: str) -> Callable[[object, str], tuple[str, ...] | None]:
    """A converter for ``OTEL_{SIGNAL}_EXPORTER``: a comma list of exporter names (``none``
    stands for no exporter)."""

    def convert(value: object, key: str) -> tuple[str, ...] | None:
        if value is None:  # configure(metrics_exporter=None): back to the default
            return None
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        names = tuple(dict.fromkeys(str(n).strip().lower() for n in items if str(n).strip()))
        known = _BUILTIN_EXPORTERS | installed_exporters(signal)
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            expected = "a comma list of " + ", ".join(sorted(known))
            raise ConfigError.for_value(key, expected, value)
        return names  # "none" kept: it says OTEL_TRACES_EXPORTER chose (nothing)

    return convert


def storage_for(names: tuple[str, ...]) -> str:
    """The ``storage`` that one exporter name stands for, or ``otel`` for a list."""
    names = tuple(n for n in names if n != "none")
    if not names:
        return "none"
    if len(names) == 1:
        name = names[0]
        if name == "fluxloop_jsonl":
            return "file"
        if name in OTLP_EXPORTERS:
            return "otlp"
        if name == "console":
            return "console"
    return "otel"


def sampler_from_env(name: str, arg: str | None, key: str) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER=name`` (with ``OTEL_TRACES_SAMPLER_ARG=arg``) stands for:
    every SDK sampler, or an ``opentelemetry_traces_sampler`` entry point."""
    text = name.strip().lower()
    if text in {"always_on", "parentbased_always_on"}:
        return ALWAYS_ON if text == "always_on" else ParentBased(ALWAYS_ON)
    if text in {"always_off", "parentbased_always_off"}:
        return ALWAYS_OFF if text == "always_off" else ParentBased(ALWAYS_OFF)
    if text in {"traceidratio", "parentbased_traceidratio"}:
        rate = _ratio(arg)
        ratio = TraceIdRatioBased(rate)
        return ratio if text == "traceidratio" else ParentBased(ratio)
    for entry in _sampler_entry_points():
        if entry.name == name.strip():
            try:
                factory = entry.load()
                sampler = factory(arg) if arg is not None else factory("")
            except Exception as exc:
                raise ConfigError.for_value(
                    key, f"a sampler entry point that loads ({exc})", name
                ) from None
            if isinstance(sampler, Sampler):
                return sampler
    # the SDK registers its own samplers as entry points too: each name once
    known = dict.fromkeys([*BUILTIN_SAMPLERS, *(e.name for e in _sampler_entry_points())])
    raise ConfigError.for_value(key, "one of " + ", ".join(known), name)


def _ratio(arg: str | None) -> float:
    if arg is None or not arg.strip():
        return 1.0
    try:
        rate = float(arg)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ConfigError.for_value("OTEL_TRACES_SAMPLER_ARG", "a number between 0 and 1", arg)
    return rate


def _sampler_entry_points() -> list[EntryPoint]:
    try:
        return list(entry_points(group="opentelemetry_traces_sampler"))
    except Exception:  # pragma: no cover
        return []


def parse_resource_attributes(raw: str, key: str) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES`` (``k=v,k2=v2``, values URL-encoded) as a dict; a malformed
    pair raises naming the variable (the caller warns once and keeps the valid pairs: see
    :func:`valid_resource_pairs`)."""
    values, bad = valid_resource_pairs(raw)
    if bad:
        raise ConfigError.for_value(key, "comma-separated key=value pairs", bad[0])
    return values


def valid_resource_pairs(raw: str) -> tuple[dict[str, str], list[str]]:
    """The well-formed pairs of ``OTEL_RESOURCE_ATTRIBUTES`` and the malformed items."""
    values: dict[str, str] = {}
    bad: list[str] = []
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            bad.append(item.strip())
            continue
        values[name.strip()] = unquote(value.strip())
    return values, bad


class _ReportedResourceWarnings(logging.Filter):
    """The SDK's own "Invalid key value resource attribute pair" line repeats what FluxLoop's
    warning (which names the variable) already said."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Invalid key value resource attribute pair")


logging.getLogger("opentelemetry.sdk.resources").addFilter(_ReportedResourceWarnings())
