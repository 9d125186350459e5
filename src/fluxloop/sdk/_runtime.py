"""The SDK's runtime state: ``configure()``, its lazy default, ``flush()``, ``shutdown()`` and
``capture_run()`` (a run's spans, collected by the processor every provider gets).

The decorators read :data:`RUNTIME` on every call, so everything on it is precomputed here:
the tracer, the enabled flag, the serializer options. ``configure()`` is optional: the first
decorated call configures the defaults (and whatever FLUXLOOP_* / OTEL_* variables say).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import Span as SDKSpan
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    StaticSampler,
    TraceIdRatioBased,
)

from fluxloop.errors import ConfigError
from fluxloop.sdk import _deferred as deferred
from fluxloop.sdk._backends import enricher
from fluxloop.sdk._capture import CAPTURE_KEY, CAPTURE_PROCESSOR, RunCapture
from fluxloop.sdk._config import LEGACY_ENV, SDKConfig, resolve
from fluxloop.sdk._exporting import (
    build_metric_exporters,
    build_processors,
    metric_exporter_names,
    metrics_key,
    serialize_options,
)
from fluxloop.sdk._legacy import warn_legacy_names
from fluxloop.sdk._metrics import PIPELINE as METRICS
from fluxloop.sdk._pipeline import (
    SCOPED_ATTRIBUTES,
    Router,
    attach_router,
    choose_provider,
    make_sampler,
)
from fluxloop.sdk._recording_state import restart_counters
from fluxloop.sdk._serialize import SerializeOptions
from fluxloop.sdk.envfile import apply_environ, read_dotenv

logger = logging.getLogger("fluxloop")

try:
    from importlib.metadata import version as _dist_version

    VERSION = _dist_version("fluxloop")
except Exception:  # pragma: no cover - running from a source tree without metadata
    VERSION = "0.0.0"

INSTRUMENTATION_NAME = "fluxloop"


@dataclass
class Runtime:
    """What the decorators need on their hot path, swapped as a whole by ``configure()``."""

    configured: bool = False
    enabled: bool = True
    capture_content: bool = True
    tracer: otel_trace.Tracer | None = None
    serialize_options: SerializeOptions = field(default_factory=SerializeOptions)
    config: SDKConfig = field(default_factory=SDKConfig)
    #: the provider's span-processor holder when content may be deferred (see
    #: ``fluxloop.sdk._spans.content_deferred``), else ``None``
    content_gate: Any = None
    #: whether a decorated call may set all its attributes when the span ends (only with
    #: deferral allowed and a sampler that ignores attributes)
    late_attributes: bool = False


RUNTIME = Runtime()
_explicit: dict[str, object] = {}
_lock = threading.RLock()
_owned_provider: TracerProvider | None = None
_provider: TracerProvider | None = None
_router: Router | None = None

#: A FluxLoopClient made current with ``client.use()`` overrides the global runtime.
CLIENT_RUNTIME: ContextVar[Runtime | None] = ContextVar("fluxloop_client_runtime", default=None)


def current_runtime() -> Runtime:
    """The runtime for the current context, configuring the defaults on first use.

    Never raises: an invalid environment falls back to the defaults with one warning.
    """
    override = CLIENT_RUNTIME.get()
    if override is not None:
        return override
    if not RUNTIME.configured:
        _configure_lazily()
    return RUNTIME


def is_configured() -> bool:
    """Whether FluxLoop is set up in this context: configured (by ``configure()`` or a first
    decorated call) or a :class:`FluxLoopClient` made current with ``client.use()``."""
    return RUNTIME.configured or CLIENT_RUNTIME.get() is not None


@contextmanager
def configuration_restored() -> Iterator[None]:
    """Put the global configuration back as it was once the block ends: unconfigured, or
    configured with the same ``configure()`` arguments (the pytest plugin runs experiments in
    the test process, and they configure the SDK for themselves). Never raises on the way out."""
    with _lock:
        was_configured = RUNTIME.configured
        explicit = dict(_explicit)
    try:
        yield
    finally:
        try:
            reset_config()
            if was_configured:
                configure(**explicit)
        except Exception:  # never hide the block's own outcome
            logger.warning("fluxloop: could not restore the configuration", exc_info=True)


@contextmanager
def capture_run(attributes: Mapping[str, Any] | None = None) -> Iterator[RunCapture]:
    """Collect every span started in this context, stamping ``attributes`` on each."""
    runtime = current_runtime()  # make sure a provider with the capture processor is installed
    capture = RunCapture(attributes or {}, runtime.serialize_options)
    scoped = {**(SCOPED_ATTRIBUTES.get() or {}), **capture.attributes}
    attr_token = SCOPED_ATTRIBUTES.set(scoped)
    ctx_token = otel_context.attach(otel_context.set_value(CAPTURE_KEY, capture))
    CAPTURE_PROCESSOR.opened()
    try:
        yield capture
    finally:
        CAPTURE_PROCESSOR.closed()
        otel_context.detach(ctx_token)
        SCOPED_ATTRIBUTES.reset(attr_token)


def configure_from_environment() -> SDKConfig:
    """Set FluxLoop up now from its variables and the OTEL_* ones, as the first decorated call
    would (the OpenTelemetry configurator of the ``fluxloop`` distro). Never raises."""
    _configure_lazily()
    return RUNTIME.config


def install_meter_provider() -> bool:
    """Install a global OpenTelemetry ``MeterProvider`` exporting where FluxLoop's GenAI metrics
    go (``OTEL_METRICS_EXPORTER`` / the storage), as the distro's configurator does, so every
    instrumentation's metrics are exported; False when metrics are off or an SDK provider is
    already set. Never raises."""
    _configure_lazily()
    with _lock:
        config, provider, router = RUNTIME.config, _provider, _router
        names = metric_exporter_names(config)
        if not names or provider is None or router is None or not config.enabled:
            return False
        try:
            exporters = build_metric_exporters(config, names, lambda: _endpoints_up(router))
            installed = METRICS.install_global_provider(exporters, provider.resource)
            if installed:
                _configure_metrics(config, provider, router)
            return installed
        except Exception:
            logger.warning("fluxloop: could not install the meter provider", exc_info=True)
            return False


def _configure_lazily() -> None:
    with _lock:
        if RUNTIME.configured:
            return
        try:
            _apply(_resolve_current())
        except Exception as exc:
            logger.warning("fluxloop: invalid settings (%s); using the defaults", exc)
            try:
                _apply(SDKConfig())
            except Exception:
                logger.warning("fluxloop: tracing disabled: could not set up", exc_info=True)
                RUNTIME.configured = True
                RUNTIME.enabled = False


def _resolve_current() -> SDKConfig:
    return _resolve(_explicit)


def _resolve(settings: dict[str, Any]) -> SDKConfig:
    """``settings`` over the environment and ``./.env``; invalid variables warn, arguments raise."""
    dotenv = read_dotenv(Path.cwd() / ".env")
    config = resolve(settings, os.environ, dotenv, on_invalid_env=_warn_invalid_env)
    warn_legacy_names([*settings, *(v for v in LEGACY_ENV if v in os.environ or v in dotenv)])
    return config


_warned_env: set[str] = set()


def _warn_invalid_env(error: ConfigError) -> None:
    """One warning per invalid variable and value; the variable is then ignored."""
    message = str(error)
    if message not in _warned_env:
        _warned_env.add(message)
        logger.warning("fluxloop: ignoring an invalid setting: %s", message)


def configure(**settings: Any) -> SDKConfig:
    """Configure FluxLoop (optional: unconfigured, the first decorated call uses the defaults).

    Accepts every parameter of :class:`SDKConfig` (``storage``, ``base_path``,
    ``collector_url``, ``api_key``, ``enabled``, ``sample_rate``, ``capture_content``,
    ``redact``, ``tracer_provider``, …). Settings accumulate across calls; calling it again
    reconfigures cleanly (the previous exporters are flushed and closed, nothing is stacked).
    Explicit arguments win over FLUXLOOP_* / OTEL_* variables, which win over ``./.env``.

    Raises :class:`fluxloop.ConfigError` for an unknown setting or an invalid argument; an
    invalid FLUXLOOP_* / OTEL_* variable costs one warning and is ignored.
    """
    with _lock:
        merged = {**_explicit, **settings}
        config = _resolve(merged)
        _explicit.clear()
        _explicit.update(merged)
        _apply(config)
        return config


def reset_config() -> SDKConfig:
    """Forget every ``configure()`` argument and restart the recording iteration counters;
    the next use re-reads the environment. Returns the configuration that use will get
    (environment, ``./.env``, defaults), as the original did."""
    with _lock:
        _explicit.clear()
        _retire_pipeline()
        RUNTIME.configured = False
        RUNTIME.tracer = None
        RUNTIME.content_gate = None
        RUNTIME.late_attributes = False
        restart_counters()
        return _resolve_current()


def get_config() -> SDKConfig:
    """The configuration in effect (resolving the defaults if FluxLoop is not configured yet)."""
    return current_runtime().config


def load_env(
    dotenv_path: str | os.PathLike[str] | None = None,
    *,
    override: bool = False,
    refresh_config: bool = True,
) -> dict[str, str]:
    """Load a ``.env`` file (or ``<dir>/.env``; default ``./.env``) into ``os.environ`` and,
    with ``refresh_config`` (default), re-resolve the settings in effect.

    Variables already set in the environment win unless ``override=True`` (precedence:
    argument > environment > .env file; the original's default was ``override=True``).
    Returns the variables the file defined. The parameters are the original SDK's.
    """
    target = Path(dotenv_path) if dotenv_path is not None else Path.cwd() / ".env"
    if target.is_dir():
        target = target / ".env"
    values = read_dotenv(target)
    apply_environ(values, override=override)
    if refresh_config:
        with _lock:
            if RUNTIME.configured:
                _apply(_resolve_current())
    return values


def flush(timeout_seconds: float = 30.0) -> bool:
    """Export everything pending; True only if it all reached its destination (or the spool)."""
    runtime = CLIENT_RUNTIME.get()
    if runtime is not None:
        return True
    router = _router
    if router is None:
        return True
    try:
        ok = router.force_flush(int(timeout_seconds * 1000))
        return METRICS.flush(int(timeout_seconds * 1000)) and ok
    except Exception:
        logger.warning("fluxloop: flush failed", exc_info=True)
        return False


def shutdown() -> None:
    """Flush and close FluxLoop's exporters (also done automatically at interpreter exit)."""
    with _lock:
        _retire_pipeline()
        METRICS.shutdown()
        RUNTIME.configured = True
        RUNTIME.enabled = False
        RUNTIME.tracer = None
        RUNTIME.content_gate = None
        RUNTIME.late_attributes = False


def _retire_pipeline() -> None:
    if _router is None:
        return
    for processor in _router.set_pipeline((), None):
        _close(processor)


def _close(processor: SpanProcessor) -> None:
    try:
        processor.shutdown()
    except Exception:
        logger.warning("fluxloop: closing an exporter failed", exc_info=True)


def _apply(config: SDKConfig) -> None:
    """Install ``config``: provider, router pipeline, tracer and the hot-path flags."""
    global _owned_provider, _provider, _router
    _configure_logging(config)
    provider, owned = choose_provider(config, _owned_provider)
    if owned:
        _owned_provider = provider
        _set_sampler(provider, make_sampler(config) or ALWAYS_ON)
    router = attach_router(provider)
    if _router is not None and _router is not router:
        for processor in _router.set_pipeline((), None):
            _close(processor)
    router.add_observer(CAPTURE_PROCESSOR)
    metrics_on = _configure_metrics(config, provider, router)
    # A provider set up by someone else (the app, another OpenTelemetry configurator) already
    # exports what the OTEL_* variables name: exporting there too would write every span twice.
    processors = (
        build_processors(
            config,
            enrich=enricher(config),
            drain=METRICS.metrics.drain if metrics_on else None,
        )
        if owned or not config.exporters
        else []
    )
    router.resolver = deferred.SpanResolver(serialize_options(config))
    for old in router.set_pipeline(processors, None if owned else config.sample_rate):
        _close(old)
    _provider, _router = provider, router
    RUNTIME.config = config
    RUNTIME.enabled = config.enabled
    RUNTIME.capture_content = config.capture_content
    RUNTIME.serialize_options = serialize_options(config)
    RUNTIME.tracer = provider.get_tracer(INSTRUMENTATION_NAME, VERSION) if config.enabled else None
    RUNTIME.content_gate = content_gate(provider, config)
    RUNTIME.late_attributes = late_attributes(provider, config, RUNTIME.content_gate)
    RUNTIME.configured = True


def _configure_metrics(config: SDKConfig, provider: TracerProvider, router: Router) -> bool:
    """Set up the GenAI metrics for ``config``; whether they are recorded."""
    names = metric_exporter_names(config)
    key = None if not names else (names, *metrics_key(config))
    try:
        METRICS.configure(
            key,
            lambda: build_metric_exporters(config, names, lambda: _endpoints_up(router)),
            provider.resource,
            flush_spans=flush,
        )
    except Exception:
        logger.warning("fluxloop: GenAI metrics disabled: could not set up", exc_info=True)
        key = None
    if key is None:
        router.remove_observer(METRICS.metrics)
        return False
    router.add_observer(METRICS.metrics)
    return True


def _endpoints_up(router: Router) -> bool:
    """Whether no span exporter of ``router`` knows its endpoint to be down."""
    return not any(_circuit_open(p) for p in router.processors)


def _circuit_open(processor: SpanProcessor) -> bool:
    return bool(getattr(getattr(processor, "exporter", None), "circuit_open", False))


def _set_sampler(provider: TracerProvider, sampler: Any) -> None:
    """Give FluxLoop's own provider a new sampler, also in the tracers it already handed out
    (the SDK caches one per instrumentation scope, each holding the sampler it was made with),
    so ``configure(sample_rate=0.0)`` after the first trace takes effect."""
    provider.sampler = sampler
    tracers = getattr(provider, "_tracers", None)
    if isinstance(tracers, dict):
        for tracer in tracers.values():
            if hasattr(tracer, "sampler"):
                tracer.sampler = sampler


def content_gate(provider: TracerProvider, config: SDKConfig) -> Any:
    """What tells whether content may be deferred in ``provider``, or ``None`` if it never may:
    deferral needs orjson, an SDK that keeps ``bytes`` attributes, no ``redact`` hook (it must
    see the live value) and the SDK's synchronous processor holder (its ``_span_processors``
    tuple: processors run in order, so FluxLoop's router, first, can resolve content before a
    processor added during a call sees it)."""
    if not (deferred.SUPPORTED and config.capture_content) or config.redact is not None:
        return None
    holder = getattr(provider, "_active_span_processor", None)
    if type(holder) is not SynchronousMultiSpanProcessor:
        return None
    if type(getattr(holder, "_span_processors", None)) is not tuple:
        return None
    return holder


def late_attributes(provider: TracerProvider, config: SDKConfig, gate: Any) -> bool:
    """Whether decorated calls in ``provider`` may set their attributes when the span ends:
    tracing on, content deferrable (``gate``), a sampler that ignores attributes, and SDK spans
    that can carry the pending attributes for FluxLoop's own readers."""
    return (
        config.enabled
        and gate is not None
        and _SPANS_TAKE_ATTRIBUTES
        and ignores_attributes(provider.sampler)
    )


# the SDK's spans have an instance __dict__ (no __slots__ all the way up)
_SPANS_TAKE_ATTRIBUTES = any("__dict__" in vars(cls) for cls in SDKSpan.__mro__[:-1])


def ignores_attributes(sampler: Any) -> bool:
    """Whether ``sampler`` decides without looking at span attributes: the SDK's static,
    trace-id-ratio and parent-based samplers (whose delegates all ignore them)."""
    if type(sampler) in (StaticSampler, TraceIdRatioBased):
        return True
    if isinstance(sampler, ParentBased) and type(sampler).__module__ == ParentBased.__module__:
        delegates = [
            getattr(sampler, name, None)
            for name in (
                "_root",
                "_remote_parent_sampled",
                "_remote_parent_not_sampled",
                "_local_parent_sampled",
                "_local_parent_not_sampled",
            )
        ]
        return all(d is not None and ignores_attributes(d) for d in delegates)
    return False


def _configure_logging(config: SDKConfig) -> None:
    if config.debug:
        logger.setLevel(logging.DEBUG)
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s fluxloop %(levelname)s %(message)s")
            )
            logger.addHandler(handler)


class FluxLoopClient:
    """A private FluxLoop setup: its own provider and exporter, not touching the globals.

    ``FluxLoopClient(storage="file", base_path="./traces")`` or
    ``FluxLoopClient(storage="http", collector_url="http://localhost:8000", api_key=...)``.
    Decorated calls made inside ``with client.use():`` go to this client.
    """

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("set_global", False)
        if "tracer_provider" in settings:
            raise ConfigError("FluxLoopClient(): tracer_provider: use fluxloop.configure() instead")
        self.config = _resolve(settings)
        self.tracer_provider = TracerProvider(
            # the SDK's default, given so that it does not read OTEL_TRACES_SAMPLER again
            sampler=make_sampler(self.config) or ParentBased(ALWAYS_ON),
            shutdown_on_exit=True,
        )
        self._router = attach_router(self.tracer_provider)
        self._router.add_observer(CAPTURE_PROCESSOR)
        self._router.resolver = deferred.SpanResolver(serialize_options(self.config))
        self._router.set_pipeline(build_processors(self.config), None)
        self.runtime = Runtime(
            configured=True,
            enabled=self.config.enabled,
            capture_content=self.config.capture_content,
            tracer=self.tracer_provider.get_tracer(INSTRUMENTATION_NAME, VERSION),
            serialize_options=serialize_options(self.config),
            config=self.config,
            content_gate=content_gate(self.tracer_provider, self.config),
        )
        self.runtime.late_attributes = late_attributes(
            self.tracer_provider, self.config, self.runtime.content_gate
        )

    @contextmanager
    def use(self) -> Iterator[FluxLoopClient]:
        """Route decorated calls in this context (thread / task) to this client."""
        token = CLIENT_RUNTIME.set(self.runtime)
        try:
            yield self
        finally:
            CLIENT_RUNTIME.reset(token)

    def get_tracer(self, name: str = INSTRUMENTATION_NAME) -> otel_trace.Tracer:
        """A tracer of this client's provider."""
        return self.tracer_provider.get_tracer(name, VERSION)

    def flush(self, timeout_seconds: float = 30.0) -> bool:
        """Export everything pending."""
        return self.tracer_provider.force_flush(int(timeout_seconds * 1000))

    def shutdown(self) -> None:
        """Flush and close this client's exporters."""
        self.tracer_provider.shutdown()
