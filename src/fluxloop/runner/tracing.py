"""The runner's use of the SDK: configuring export, capturing one run, making sure it is traced."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from fluxloop_exporters import CONTRACT_VERSION
from fluxloop_exporters import encode_records as _encode_records

import fluxloop
from fluxloop.integrations.autoinstrument import (
    PROVISIONAL_AGENT_NAMES,
    instrument_langchain_on_import,
)
from fluxloop.sdk import RunCapture, capture_run

__all__ = [
    "CONTRACT_VERSION",
    "FLUSH_TIMEOUT_SECONDS",
    "Capture",
    "TracingSetup",
    "configure_tracing",
    "is_instrumented",
    "observations_and_traces",
    "start_capture",
    "traced",
]

logger = logging.getLogger("fluxloop.runner")


Capture = RunCapture

#: How long the runner waits for spans to reach a collector at the end; what is not delivered by
#: then is spooled locally by the exporter and retried later, never lost.
FLUSH_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class TracingSetup:
    collector_url: str | None
    shipping: bool

    def describe(self) -> str:
        if self.shipping and self.collector_url:
            return f"spans also shipped over OTLP to {self.collector_url}"
        return "spans captured in memory only (no collector)"


def configure_tracing(
    collector_url: str | None,
    api_key: str | None,
    *,
    no_collector: bool,
    auto_instrument: bool = True,
    hide_internal: bool = True,
) -> TracingSetup:
    """Point the SDK at the collector (OTLP) or at nothing; the runner writes its own files.

    With ``auto_instrument`` (``runner.auto_instrument``, default on), LangChain and LangGraph
    runs of the target are captured with no code once the target imports langchain-core
    (``langchain.hide_internal`` folds its plumbing runnables away)."""
    shipping = bool(collector_url) and not no_collector
    # every run must be captured: sampling and the kill switch do not apply to experiments; the
    # runner writes its own numbers, so the SDK's GenAI metrics stay off here
    common: dict[str, Any] = {"enabled": True, "sample_rate": 1.0, "metrics_exporter": "none"}
    if shipping:
        fluxloop.configure(storage="otlp", collector_url=collector_url, api_key=api_key, **common)
    else:
        fluxloop.configure(storage="none", **common)
    if auto_instrument:
        instrument_langchain_on_import(hide_internal=hide_internal)
    return TracingSetup(collector_url=collector_url, shipping=shipping)


def start_capture(attributes: Mapping[str, Any]) -> AbstractContextManager[RunCapture]:
    return capture_run(attributes)


def is_instrumented(func: Callable[..., Any]) -> bool:
    """True when ``func`` (or the function behind a bound method) carries a FluxLoop decorator."""
    probe: Any = func
    for _ in range(4):
        wrapper = getattr(probe, "_self_wrapper", None)
        if wrapper is not None and type(wrapper).__module__.startswith("fluxloop."):
            return True
        nxt = getattr(probe, "__func__", None) or getattr(probe, "__wrapped__", None)
        if nxt is None or nxt is probe:
            return False
        probe = nxt
    return False


def traced(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``func`` itself when decorated, else wrapped in a FluxLoop ``agent`` span named ``name``.

    Every run then has a trace with the input and the output, decorated or not.
    """
    if is_instrumented(func):
        return func
    try:
        wrapped = fluxloop.agent(name=name)(func)
        PROVISIONAL_AGENT_NAMES.add(name)  # a LangGraph graph inside names the agent instead
        return wrapped
    except Exception:  # pragma: no cover - instrumentation never blocks a run
        logger.debug("could not wrap the target in a span", exc_info=True)
        return func


def observations_and_traces(
    spans: Sequence[Any], earlier_spans: Sequence[Any] = ()
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Contract records of a run's captured spans, observations ordered by start time (parents
    first); ``earlier_spans`` are those of its retried attempts (each its own trace)."""
    spans = sorted([*earlier_spans, *spans], key=lambda s: s.start_time or 0)
    if not spans:
        return [], []
    observations: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    for span in spans:
        observation, trace = _encode_records(span)
        observations.append(observation)
        if trace is not None:
            traces.append(trace)
    return observations, traces
