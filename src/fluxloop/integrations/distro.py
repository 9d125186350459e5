"""FluxLoop as an OpenTelemetry distribution: ``opentelemetry-instrument python app.py``.

The ``fluxloop`` distribution registers, under the name ``fluxloop``:

* an ``opentelemetry_distro`` (:class:`FluxLoopDistro`): when it is the distro in use, the
  configurator in use is FluxLoop's unless ``OTEL_PYTHON_CONFIGURATOR`` names another;
* an ``opentelemetry_configurator`` (:class:`FluxLoopConfigurator`): sets up FluxLoop's pipeline
  exactly as the first decorated call would (the tracer provider with FluxLoop's processor, the
  JSONL contract by default or what ``OTEL_TRACES_EXPORTER`` / ``FLUXLOOP_STORAGE`` say, the
  sampler, the resource, the GenAI metrics), installed globally so that every instrumentor
  ``opentelemetry-instrument`` loads afterwards exports through it; likewise a global
  ``MeterProvider`` exporting where FluxLoop's metrics go (``OTEL_METRICS_EXPORTER``, the JSONL
  file by default), so instrumentations' own metrics (the official OpenAI one's) are kept too.
  A later ``fluxloop.configure()`` in the application reconfigures that same pipeline (never a
  second one), so each span is exported exactly once;
* an ``opentelemetry_instrumentor`` ``fluxloop_langchain`` (:class:`LangChainInstrumentor` in
  :mod:`fluxloop.integrations.instrumentor`).

With ``opentelemetry-distro`` installed too, both distros register and the first one found
wins: set ``OTEL_PYTHON_DISTRO=fluxloop`` to be sure.

:func:`instrumentations` lists the installed ``opentelemetry_instrumentor`` entry points and
whether ``opentelemetry-instrument`` would activate each (``fluxloop config env``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _BaseConfigurator

from fluxloop.sdk import configure_from_environment, install_meter_provider

__all__ = ["FluxLoopConfigurator", "FluxLoopDistro", "Instrumentation", "instrumentations"]

NAME = "fluxloop"


class FluxLoopDistro(BaseDistro):  # type: ignore[misc]
    """The ``fluxloop`` OpenTelemetry distro: makes FluxLoop's configurator the default one."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", NAME)


class FluxLoopConfigurator(_BaseConfigurator):
    """The ``fluxloop`` OpenTelemetry configurator: FluxLoop's pipeline, set up globally."""

    def _configure(self, **kwargs: Any) -> None:
        configure_from_environment()
        install_meter_provider()


@dataclass(frozen=True)
class Instrumentation:
    """One installed ``opentelemetry_instrumentor`` entry point."""

    name: str
    distribution: str
    version: str
    #: ``active``, ``disabled`` (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS) or ``inactive``
    status: str
    #: why it is inactive (the instrumented library is missing or of another version)
    reason: str = ""


def instrumentations() -> list[Instrumentation]:
    """The installed OpenTelemetry instrumentations and what ``opentelemetry-instrument`` would
    do with each: activate it, skip it as disabled, or skip it for a missing dependency."""
    disabled = {
        n.strip()
        for n in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
        if n.strip()
    }
    found: list[Instrumentation] = []
    for entry in sorted(entry_points(group="opentelemetry_instrumentor"), key=lambda e: e.name):
        dist = entry.dist
        dist_name = dist.metadata["Name"] if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        if entry.name in disabled:
            found.append(Instrumentation(entry.name, dist_name, version, "disabled"))
            continue
        conflict = _dependency_conflict(entry)
        status = "inactive" if conflict else "active"
        found.append(Instrumentation(entry.name, dist_name, version, status, conflict or ""))
    return found


def _dependency_conflict(entry: EntryPoint) -> str | None:
    """What ``opentelemetry-instrument`` checks before loading an instrumentor: the
    distribution's ``instruments`` requirements (without importing the instrumentor)."""
    try:
        if entry.dist is None:
            return None
        conflict = get_dist_dependency_conflicts(entry.dist)
    except Exception as exc:  # metadata we cannot read: say so rather than guess
        return f"cannot check its dependencies ({exc})"
    if conflict is None:
        return None
    required = getattr(conflict, "required", None)
    present = getattr(conflict, "found", None)
    if required and present is None:
        return f"{required} is not installed"
    return str(conflict)
