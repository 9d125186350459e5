"""LangChain tracing: a callback handler that turns LangChain runs into FluxLoop spans.

.. code-block:: python

    from fluxloop.integrations.langchain import FluxLoopCallbackHandler, instrument_langchain

    chain.invoke(inputs, config={"callbacks": [FluxLoopCallbackHandler()]})  # one call
    instrument_langchain()  # or every LangChain / LangGraph run in the process

What each run becomes (GenAI semantic conventions, the attribute names of ``fluxloop_semconv``):

========================  ==================================================================
LangChain run             span
========================  ==================================================================
chat model / LLM          ``chat {model}`` / ``text_completion {model}`` (CLIENT, generation):
                          ``gen_ai.request.model``, ``gen_ai.provider.name`` (from
                          ``ls_provider`` / ``_llm_type``), request parameters, token usage
                          from ``usage_metadata``, ``gen_ai.input.messages`` /
                          ``gen_ai.output.messages``, finish reasons, response model and id,
                          time to first chunk when streamed
tool                      ``execute_tool {name}`` (tool): ``gen_ai.tool.call.id``,
                          ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``
retriever                 ``retrieval {name}`` (CLIENT, retrieval): query and documents
top-level LangGraph       ``invoke_agent {name}`` (agent)
graph, ``AgentExecutor``
LangGraph node            a ``chain`` span named after the node
any other chain           a ``chain`` span named after the runnable
========================  ==================================================================

Run metadata ``{"fluxloop_kind": "agent" | "workflow" | "chain"}`` overrides the
classification of the run it is given to (``workflow`` gives ``invoke_workflow {name}``); runs
tagged ``langsmith:hidden`` get no span (their children attach to the parent).

Parents: a run's span is the child of its parent run's span (``parent_run_id``); a top-level
run nests under the span current when it starts (e.g. a ``@fluxloop.agent`` function). While a
run is in progress its span is the current OpenTelemetry span, so decorated functions and
other instrumentations called inside a tool or a node nest under it. The handler is called
inline (``run_inline``), so this holds for sync and async runs alike. Async LangChain ends
runs in a copy of the context they started in, where the start cannot be undone; what the
handler puts in the context therefore stops applying when the run ends (the current span
reverts to the run's parent), so nothing leaks onto later spans.

No duplicate spans:

- **Decorated agent around a graph.** A top-level LangChain agent run (a LangGraph graph, an
  ``AgentExecutor``) started while the current span is a FluxLoop agent span
  (``@fluxloop.agent``) gets no span of its own: its nodes become children of the decorated
  agent span.
- **Decorated model call around a LangChain model.** A chat model / LLM run inside a FluxLoop
  generation span (``@fluxloop.prompt``, or a manual generation observation), with only chain
  runs in between, gets no span of its own: it *enriches* the enclosing span instead (model,
  provider, messages, usage, finish reasons; the span is renamed ``chat {model}`` when the
  decorator did not know the model). Only the first such run per generation span is merged;
  further model runs inside it get their own child spans.
- **Provider instrumentations.** While a LangChain model run is in progress the context
  carries ``suppress_language_model_instrumentation`` (the key OpenLLMetry's provider
  instrumentations honour), so they skip their own, duplicate model span. The handler itself
  creates no span when the context suppresses all instrumentation
  (``opentelemetry.instrumentation.utils.suppress_instrumentation``), and no model span when
  another language-model instrumentation above it set that key.
- **Several handlers.** Handlers share one run registry, so a run is traced once even when
  the global handler and an explicitly passed handler both see it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from typing import Any, cast
from uuid import UUID

from fluxloop_exporters import observation_type
from fluxloop_semconv import attributes as attr
from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, SpanContext, Status, StatusCode
from opentelemetry.util import types

from fluxloop.integrations import _langchain_data as data
from fluxloop.integrations.autoinstrument import PROVISIONAL_AGENT_NAMES, instrument_if_requested
from fluxloop.sdk import (
    INSTRUMENTATION_NAME,
    Convention,
    Runtime,
    build_convention,
    current_runtime,
    record_failure,
    span_attributes,
    start_span,
    to_json,
)

__all__ = [
    "SUPPRESS_LANGUAGE_MODEL_KEY",
    "FluxLoopCallbackHandler",
    "instrument_langchain",
    "is_langchain_instrumented",
    "uninstrument_langchain",
]

logger = logging.getLogger("fluxloop")

#: Context key (a plain string, as OpenLLMetry defines it) set while a LangChain model span is
#: current; provider instrumentations that honour it skip their own, duplicate model span.
SUPPRESS_LANGUAGE_MODEL_KEY = "suppress_language_model_instrumentation"

_SUPPRESS_KEYS = ("suppress_instrumentation",)
_HIDDEN_TAG = "langsmith:hidden"
_CONTROL_FLOW_ERRORS = frozenset(
    {"GraphBubbleUp", "GraphInterrupt", "ParentCommand", "GeneratorExit"}
)
_KIND_MARKER = "fluxloop_kind"
_MAX_RUNS = 50_000

#: LangChain's plumbing runnables, folded away with ``hide_internal`` (their children nest under
#: their parent): composition (``prompt | model``), pass-throughs and prompt templates.
INTERNAL_RUNNABLES = frozenset(
    {
        "RunnableSequence",
        "RunnableParallel",
        "RunnablePassthrough",
        "RunnableAssign",
        "RunnablePick",
        "RunnableBinding",
        "RunnableEach",
        "ChannelWrite",
        "ChannelRead",
    }
)
#: A graph compiled without a name is called this by LangGraph: no better than the target's name.
_DEFAULT_GRAPH_NAME = "LangGraph"


def is_internal_runnable(name: str) -> bool:
    """Whether a run called ``name`` is LangChain plumbing (see :data:`INTERNAL_RUNNABLES`)."""
    return (
        name in INTERNAL_RUNNABLES
        or name.endswith("PromptTemplate")
        or name.startswith(("ChannelWrite<", "ChannelWrite(", "RunnableSequence<"))
    )


try:  # the OTel API keeps the "suppress all instrumentation" key in a private name
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS_ALL_KEY
except ImportError:  # pragma: no cover - older or newer API without it
    _SUPPRESS_ALL_KEY = "suppress_instrumentation"


class _Flag:
    """A context value that is truthy only while its run is in progress.

    Values the handler puts into the OpenTelemetry context must be harmless when a context
    outlives the run (async LangChain ends runs in a shielded copy of the starting context,
    so the start context cannot always be detached): a dead flag is simply false.
    """

    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live = True

    def __bool__(self) -> bool:
        return self.live


class _RunSpan(Span):
    """The current span while a LangChain run is in progress; its parent's span after that.

    The handler makes this proxy current instead of the run's span, so a context that leaks
    past the end of a run (see :class:`_Flag`) parents later spans to what was current before
    the run, never to an ended span.
    """

    __slots__ = ("_fallback", "_span", "flag")

    _fallback: Span
    flag: _Flag

    def __init__(self, span: Span, fallback: Span) -> None:
        self._span = span
        while isinstance(fallback, _RunSpan) and not fallback.flag:  # collapse ended runs
            fallback = fallback._fallback
        self._fallback = fallback
        self.flag = _Flag()

    def target(self) -> Span:
        """The run's span while it runs, else the first live span outside it."""
        if self.flag:
            return self._span
        fallback = self._fallback
        return fallback.target() if isinstance(fallback, _RunSpan) else fallback

    def outside(self) -> Span:
        """The span that was current when the run started (skipping other runs' proxies)."""
        return _outer(self._fallback)

    @property
    def attributes(self) -> Mapping[str, Any]:
        return _attributes(self.target())

    @property
    def name(self) -> str:
        return str(getattr(self.target(), "name", ""))

    def get_span_context(self) -> SpanContext:
        return self.target().get_span_context()

    def is_recording(self) -> bool:
        return self.target().is_recording()

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        self.target().set_attributes(attributes)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        self.target().set_attribute(key, value)

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        self.target().add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        self.target().add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self.target().update_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self.target().set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.target().record_exception(exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        self.target().end(end_time)


def _outer(span: Span) -> Span:
    while isinstance(span, _RunSpan):
        span = span._fallback
    return span


class _BoundedIds:
    """A set of span ids that forgets the oldest beyond ``limit`` entries (thread-safe)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, span_id: int) -> bool:
        """Add ``span_id``; False if it was already there."""
        with self._lock:
            if span_id in self._ids:
                return False
            self._ids[span_id] = None
            if len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            return True

    def discard(self, span_id: int) -> None:
        with self._lock:
            self._ids.pop(span_id, None)

    def __contains__(self, span_id: object) -> bool:
        return span_id in self._ids


@dataclass(slots=True, eq=False)
class _Run:
    """One LangChain run in progress."""

    kind: str  # agent, workflow, chain, generation, tool, retrieval, merged, hidden
    span: Span | None  # None for merged and hidden runs
    ctx: otel_context.Context  # the parent context of the run's children
    runtime: Runtime
    #: a decorated generation span a model run below may still enrich (see the module doc)
    generation_slot: Span | None
    agent_name: str | None
    marker: str | None
    conversation: str | None
    start_ns: int
    token: Token[otel_context.Context] | None = None
    flag: _Flag | None = None  # live while the run is in progress (see _RunSpan)
    target: Span | None = None  # the decorated span a merged model run enriches
    chunks: int = 0
    output_attribute: str = attr.FLUXLOOP_OUTPUT
    capture_content: bool = True


class _Registry:
    """Runs in progress, shared by every handler instance (a run is traced once)."""

    def __init__(self) -> None:
        self._runs: OrderedDict[UUID, _Run] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: UUID | None) -> _Run | None:
        if run_id is None:
            return None
        return self._runs.get(run_id)

    def claim(self, run_id: UUID, run: _Run) -> bool:
        with self._lock:
            if run_id in self._runs:
                return False
            self._runs[run_id] = run
            evicted = self._runs.popitem(last=False)[1] if len(self._runs) > _MAX_RUNS else None
        if evicted is not None and evicted.span is not None:  # a run that never ended
            evicted.span.end()
        return True

    def contains(self, run_id: UUID) -> bool:
        return run_id in self._runs

    def pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def __len__(self) -> int:
        return len(self._runs)


_RUNS = _Registry()
_OWN_SPANS = _BoundedIds(_MAX_RUNS)  # span ids of the handler's own spans in progress
_CLAIMED = _BoundedIds()  # decorated generation spans a model run already enriched


def _span_id(span: Span) -> int:
    return span.get_span_context().span_id


def _attributes(span: Span | None) -> Mapping[str, Any]:
    return span_attributes(span)


def _fluxloop_span_of_type(span: Span | None, kind: str) -> bool:
    """True for a recording span FluxLoop's decorators / context API made, of type ``kind``."""
    if span is None or not span.is_recording():
        return False
    if _span_id(span) in _OWN_SPANS:
        return False
    scope = getattr(span, "instrumentation_scope", None)
    if getattr(scope, "name", None) != INSTRUMENTATION_NAME:
        return False
    return observation_type(_attributes(span)) == kind


def _suppressed(ctx: otel_context.Context) -> bool:
    return bool(
        otel_context.get_value(_SUPPRESS_ALL_KEY, ctx)
        or any(otel_context.get_value(key, ctx) for key in _SUPPRESS_KEYS)
    )


def _foreign_suppression(ctx: otel_context.Context) -> bool:
    """True when a language-model instrumentation other than this handler asked to suppress."""
    value = otel_context.get_value(SUPPRESS_LANGUAGE_MODEL_KEY, ctx)
    return bool(value) and not isinstance(value, _Flag)


def _detach(run: _Run) -> None:
    """Detach the run's context only when it is the current one (LIFO in the same context).

    A run ending in another context (a stream consumed elsewhere) or out of order leaves the
    context alone rather than logging "Failed to detach context" or restoring a stale one.
    """
    token = run.token
    if token is None:
        return
    run.token = None
    if otel_context.get_current() is not run.ctx:
        return
    try:
        token.var.reset(token)
    except (ValueError, RuntimeError):
        pass
    except Exception:  # pragma: no cover - a non-contextvars runtime context
        otel_context.detach(token)


def _control_flow(error: BaseException) -> bool:
    return any(cls.__name__ in _CONTROL_FLOW_ERRORS for cls in type(error).__mro__)


def _run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ident = serialized.get("id")
        if isinstance(ident, Sequence) and ident and isinstance(ident[-1], str):
            return ident[-1]
    return default


class FluxLoopCallbackHandler(BaseCallbackHandler):
    """Trace LangChain / LangGraph runs as FluxLoop spans (see the module documentation).

    Safe in sync and async code (it is called inline, never in a thread pool), never raises
    into LangChain, and follows ``fluxloop.configure()`` (enabled flag, content capture,
    serializer limits) at every run. ``capture_content`` overrides the configured content
    capture for this handler.
    """

    run_inline = True
    raise_error = False

    def __init__(self, *, capture_content: bool | None = None, hide_internal: bool = True) -> None:
        super().__init__()
        self.capture_content = capture_content
        #: fold LangChain's plumbing runnables away (see :data:`INTERNAL_RUNNABLES`)
        self.hide_internal = hide_internal

    # ------------------------------------------------------------------ chains

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start an agent, workflow or chain span."""
        try:
            self._chain_start(serialized, inputs, run_id, parent_run_id, tags, metadata, kwargs)
        except Exception:
            logger.debug("fluxloop: on_chain_start failed", exc_info=True)

    def _chain_start(
        self,
        serialized: Mapping[str, Any] | None,
        inputs: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: Sequence[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        meta = metadata or {}
        name = _run_name(serialized, kwargs, "chain")
        parent = _RUNS.get(parent_run_id)
        marker = meta.get(_KIND_MARKER)
        marker = marker if isinstance(marker, str) else None
        if self.hide_internal and marker is None and is_internal_runnable(name):
            self._begin(run_id, parent_run_id, tags, meta, "hidden", _no_convention, _no_attrs)
            return
        kind = "chain"
        if marker in {"agent", "workflow", "chain"} and (parent is None or parent.marker != marker):
            kind = marker
        elif parent is None and (
            (meta.get("ls_integration") == "langgraph" and "langgraph_node" not in meta)
            or name == "AgentExecutor"
        ):
            kind = "agent"
        extra: dict[str, Any] = {}
        node = meta.get("langgraph_node")
        if kind == "chain" and node == name:
            extra["langgraph_node"] = node
            if "langgraph_step" in meta:
                extra["langgraph_step"] = meta["langgraph_step"]

        def convention(run: _Run) -> Convention:
            if kind == "agent":
                return build_convention("agent", name)
            if kind == "workflow":
                conv = build_convention(
                    "chain",
                    name,
                    extra={
                        attr.GEN_AI_OPERATION_NAME: "invoke_workflow",
                        attr.GEN_AI_WORKFLOW_NAME: name,
                    },
                )
                return replace(conv, span_name=f"invoke_workflow {name}")
            return build_convention("chain", name)

        def attributes(run: _Run, conv: Convention) -> dict[str, Any]:
            values = dict(conv.static_attributes)
            if extra:
                values[attr.FLUXLOOP_METADATA] = to_json(extra, run.runtime.serialize_options)[0]
            if kind == "agent" and run.conversation:
                values[attr.GEN_AI_CONVERSATION_ID] = run.conversation
            if run.capture_content:
                self._content(run, values, conv.input_attribute, inputs)
            return values

        self._begin(
            run_id,
            parent_run_id,
            tags,
            meta,
            kind,
            convention,
            attributes,
            marker=marker,
            agent_name=name if kind == "agent" else None,
        )

    def on_chain_end(
        self,
        outputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """End a chain span with its outputs."""
        self._end(run_id, lambda run: self._output(run, outputs))

    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """End a chain span as failed (LangGraph control-flow exceptions are not failures)."""
        self._fail(run_id, error)

    # ------------------------------------------------------------------ models

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``chat {model}`` span."""
        try:
            self._model_start(
                "chat",
                lambda: data.chat_input_messages(messages),
                run_id,
                parent_run_id,
                tags,
                metadata,
                kwargs,
            )
        except Exception:
            logger.debug("fluxloop: on_chat_model_start failed", exc_info=True)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``text_completion {model}`` span."""
        try:
            self._model_start(
                "text_completion",
                lambda: data.prompt_input_messages(prompts),
                run_id,
                parent_run_id,
                tags,
                metadata,
                kwargs,
            )
        except Exception:
            logger.debug("fluxloop: on_llm_start failed", exc_info=True)

    def _model_start(
        self,
        operation: str,
        input_messages: Callable[[], list[dict[str, Any]] | None],
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: Sequence[str] | None,
        metadata: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        meta = metadata or {}
        params = kwargs.get("invocation_params")
        params = params if isinstance(params, Mapping) else {}
        model = data.model_name(params, meta)
        provider = data.provider_name(params, meta, model)
        request = data.request_parameters(params)

        def convention(run: _Run) -> Convention:
            conv = build_convention(
                "generation", model or operation, model=model, provider=provider
            )
            if operation != "chat":
                values = {**conv.static_attributes, attr.GEN_AI_OPERATION_NAME: operation}
                conv = replace(
                    conv,
                    span_name=f"{operation} {model}" if model else operation,
                    static_attributes=values,
                )
            return conv

        def attributes(run: _Run, conv: Convention) -> dict[str, Any]:
            values = dict(conv.static_attributes)
            values.update(_request_attributes(request))
            if run.conversation:
                values[attr.GEN_AI_CONVERSATION_ID] = run.conversation
            if run.capture_content:
                messages = input_messages()
                if messages:
                    self._content(run, values, attr.GEN_AI_INPUT_MESSAGES, messages)
            return values

        def enrich(run: _Run, target: Span) -> None:
            existing = _attributes(target)
            values: dict[str, Any] = {}
            if model and not existing.get(attr.GEN_AI_REQUEST_MODEL):
                values[attr.GEN_AI_REQUEST_MODEL] = model
                if operation == "chat" and getattr(target, "name", None) in {"chat", operation}:
                    target.update_name(f"{operation} {model}")
            if provider and not existing.get(attr.GEN_AI_PROVIDER_NAME):
                values[attr.GEN_AI_PROVIDER_NAME] = provider
            for key, value in _request_attributes(request).items():
                if key not in existing:
                    values[key] = value
            if run.capture_content and attr.GEN_AI_INPUT_MESSAGES not in existing:
                messages = input_messages()
                if messages:
                    values[attr.GEN_AI_INPUT_MESSAGES] = self._json(run, messages)
            target.set_attributes(values)

        self._begin(
            run_id,
            parent_run_id,
            tags,
            meta,
            "generation",
            convention,
            attributes,
            enrich=enrich,
        )

    def on_llm_new_token(
        self,
        token: Any,
        *,
        chunk: Any = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Count streamed chunks; record the time to the first one."""
        try:
            run = _RUNS.get(run_id)
            if run is None:
                return
            run.chunks += 1
            if run.chunks == 1:
                span = run.span or run.target
                if span is not None and span.is_recording():
                    span.set_attributes(
                        {
                            attr.GEN_AI_REQUEST_STREAM: True,
                            attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: (
                                time.monotonic_ns() - run.start_ns
                            )
                            / 1e9,
                        }
                    )
        except Exception:
            logger.debug("fluxloop: on_llm_new_token failed", exc_info=True)

    def on_llm_end(
        self,
        response: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """End a model span with usage, response identity, finish reasons and output."""

        def finish(run: _Run) -> None:
            span = run.span or run.target
            if span is None or not span.is_recording():
                return
            span.set_attributes(self._response_attributes(run, response))

        self._end(run_id, finish)

    def _response_attributes(self, run: _Run, response: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        usage = data.usage(response)
        if usage is not None:
            for key, number in (
                (attr.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
                (attr.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
                (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_input_tokens),
                (attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_output_tokens),
            ):
                if number is not None:
                    values[key] = number
        response_model, response_id = data.response_identity(response)
        if response_model:
            values[attr.GEN_AI_RESPONSE_MODEL] = response_model
        if response_id:
            values[attr.GEN_AI_RESPONSE_ID] = response_id
        reasons = data.finish_reasons(response)
        if reasons:
            values[attr.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        if run.chunks:
            values[attr.FLUXLOOP_STREAM_CHUNK_COUNT] = run.chunks
        if run.capture_content:
            messages = data.output_messages(response)
            if messages:
                values[attr.GEN_AI_OUTPUT_MESSAGES] = self._json(
                    run, messages, attr.GEN_AI_OUTPUT_MESSAGES
                )
        return values

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """End a model span as failed."""
        self._fail(run_id, error)

    # ------------------------------------------------------------------ tools

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start an ``execute_tool {name}`` span with the call id and arguments."""
        try:
            name = _run_name(serialized, kwargs, "tool")
            description = (serialized or {}).get("description")
            call_id = kwargs.get("tool_call_id")

            def convention(run: _Run) -> Convention:
                return build_convention(
                    "tool",
                    name,
                    description=description if isinstance(description, str) else None,
                )

            def attributes(run: _Run, conv: Convention) -> dict[str, Any]:
                values = dict(conv.static_attributes)
                if isinstance(call_id, str) and call_id:
                    values[attr.GEN_AI_TOOL_CALL_ID] = call_id
                if run.agent_name:
                    values[attr.GEN_AI_AGENT_NAME] = run.agent_name
                if run.conversation:
                    values[attr.GEN_AI_CONVERSATION_ID] = run.conversation
                if run.capture_content:
                    arguments = data.tool_arguments(input_str, inputs)
                    self._content(run, values, conv.input_attribute, arguments)
                return values

            self._begin(run_id, parent_run_id, tags, metadata or {}, "tool", convention, attributes)
        except Exception:
            logger.debug("fluxloop: on_tool_start failed", exc_info=True)

    def on_tool_end(
        self,
        output: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """End a tool span with its result (an error ToolMessage marks it failed)."""

        def finish(run: _Run) -> None:
            span = run.span
            if span is None or not span.is_recording():
                return
            result, call_id = data.tool_result(output)
            if call_id and attr.GEN_AI_TOOL_CALL_ID not in _attributes(span):
                span.set_attribute(attr.GEN_AI_TOOL_CALL_ID, call_id)
            self._output(run, result)
            if data.tool_failed(output):
                span.set_status(Status(StatusCode.ERROR, "the tool returned an error"))
                span.set_attribute(attr.ERROR_TYPE, "ToolException")

        self._end(run_id, finish)

    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """End a tool span as failed."""
        self._fail(run_id, error)

    # ------------------------------------------------------------------ retrievers

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``retrieval {name}`` span with the query."""
        try:
            name = _run_name(serialized, kwargs, "retriever")

            def convention(run: _Run) -> Convention:
                return build_convention("retrieval", name, data_source=name)

            def attributes(run: _Run, conv: Convention) -> dict[str, Any]:
                values = dict(conv.static_attributes)
                if run.capture_content:
                    self._content(run, values, conv.input_attribute, query)
                    if isinstance(query, str):
                        values[attr.GEN_AI_RETRIEVAL_QUERY_TEXT] = query
                return values

            self._begin(
                run_id, parent_run_id, tags, metadata or {}, "retrieval", convention, attributes
            )
        except Exception:
            logger.debug("fluxloop: on_retriever_start failed", exc_info=True)

    def on_retriever_end(
        self,
        documents: Sequence[Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """End a retrieval span with the documents (``id``, ``score``, ``content``)."""

        def finish(run: _Run) -> None:
            span = run.span
            if span is None or not span.is_recording() or not run.capture_content:
                return
            docs = data.documents(documents)
            self._output(run, docs)
            span.set_attribute(
                attr.GEN_AI_RETRIEVAL_DOCUMENTS,
                self._json(run, docs, attr.GEN_AI_RETRIEVAL_DOCUMENTS),
            )

        self._end(run_id, finish)

    def on_retriever_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """End a retrieval span as failed."""
        self._fail(run_id, error)

    # ------------------------------------------------------------------ plumbing

    def _begin(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: Sequence[str] | None,
        metadata: Mapping[str, Any],
        kind: str,
        convention: Callable[[_Run], Convention],
        attributes: Callable[[_Run, Convention], dict[str, Any]],
        *,
        marker: str | None = None,
        agent_name: str | None = None,
        enrich: Callable[[_Run, Span], None] | None = None,
    ) -> None:
        """Open the span of a run (or merge / hide it) and register it under ``run_id``."""
        if _RUNS.contains(run_id):
            return  # another handler instance traces this run
        runtime = current_runtime()
        if not runtime.enabled or runtime.tracer is None:
            return
        current = otel_context.get_current()
        if _suppressed(current):
            return
        parent = _RUNS.get(parent_run_id)
        if parent is not None:
            parent_ctx = parent.ctx
            parent_span = otel_trace.get_current_span(parent_ctx)
            slot, inherited_agent = parent.generation_slot, parent.agent_name
        else:
            # a top-level run nests under what is current, but never under another run's span
            # (``batch`` starts its runs one after the other in the same context)
            parent_ctx = current
            parent_span = otel_trace.get_current_span(current)
            if isinstance(parent_span, _RunSpan):
                parent_span = parent_span.outside()
                parent_ctx = otel_trace.set_span_in_context(parent_span, current)
            slot = parent_span if _fluxloop_span_of_type(parent_span, "generation") else None
            found = _attributes(parent_span).get(attr.GEN_AI_AGENT_NAME)
            inherited_agent = found if isinstance(found, str) else None
        run = _Run(
            kind=kind,
            span=None,
            ctx=parent_ctx,
            runtime=runtime,
            generation_slot=slot,
            agent_name=agent_name or inherited_agent,
            marker=marker,
            conversation=data.conversation_id(metadata),
            start_ns=time.monotonic_ns(),
            capture_content=(
                runtime.capture_content if self.capture_content is None else self.capture_content
            ),
        )
        if (tags and _HIDDEN_TAG in tags) or (kind == "hidden"):
            run.kind = "hidden"
            _RUNS.claim(run_id, run)
            return
        if kind == "agent" and parent is None and _fluxloop_span_of_type(parent_span, "agent"):
            run.kind = "merged"  # the decorated agent span is this agent: no second span
            if agent_name and _name_after_graph(parent_span, inherited_agent, agent_name):
                inherited_agent = agent_name
            run.agent_name = inherited_agent or agent_name
            _RUNS.claim(run_id, run)
            return
        if kind == "generation":
            if _foreign_suppression(current):
                return  # another language-model instrumentation owns this call
            if slot is not None and enrich is not None and _CLAIMED.add(_span_id(slot)):
                run.kind = "merged"
                run.target = slot
                run.generation_slot = None
                enrich(run, slot)
                run.flag = _Flag()
                run.ctx = otel_context.set_value(SUPPRESS_LANGUAGE_MODEL_KEY, run.flag, parent_ctx)
                if _RUNS.claim(run_id, run):
                    run.token = otel_context.attach(run.ctx)
                return
            run.generation_slot = None
        conv = convention(run)
        run.output_attribute = conv.output_attribute
        span, _ = start_span(runtime, conv, attributes(run, conv), parent=parent_ctx)
        proxy = _RunSpan(span, parent_span)
        run.span, run.flag = span, proxy.flag
        run.ctx = otel_trace.set_span_in_context(proxy, parent_ctx)
        if kind == "generation":
            run.ctx = otel_context.set_value(SUPPRESS_LANGUAGE_MODEL_KEY, run.flag, run.ctx)
        if not _RUNS.claim(run_id, run):  # lost a race with another handler
            span.end()
            return
        _OWN_SPANS.add(_span_id(span))
        run.token = otel_context.attach(run.ctx)

    def _end(self, run_id: UUID, finish: Callable[[_Run], None] | None) -> None:
        """Finish and end the run's span; detach its context. Never raises."""
        try:
            run = _RUNS.pop(run_id)
            if run is None:
                return
            try:
                if finish is not None and (run.span is not None or run.target is not None):
                    finish(run)
            except Exception:
                logger.debug("fluxloop: could not record a LangChain result", exc_info=True)
            if run.flag is not None:
                run.flag.live = False
            _detach(run)
            if run.span is not None:
                _OWN_SPANS.discard(_span_id(run.span))
                run.span.end()
        except Exception:
            logger.debug("fluxloop: could not end a LangChain run", exc_info=True)

    def _fail(self, run_id: UUID, error: BaseException) -> None:
        def finish(run: _Run) -> None:
            if run.span is not None and not _control_flow(error):
                record_failure(run.span, error)

        self._end(run_id, finish)

    def _json(self, run: _Run, value: Any, key: str | None = None) -> str:
        text, truncated = to_json(value, run.runtime.serialize_options)
        if truncated and key is not None and run.span is not None:
            previous = list(_attributes(run.span).get(attr.FLUXLOOP_TRUNCATED, ()))
            run.span.set_attribute(attr.FLUXLOOP_TRUNCATED, [*previous, key])
        return text

    def _content(self, run: _Run, values: dict[str, Any], key: str, value: Any) -> None:
        text, truncated = to_json(value, run.runtime.serialize_options)
        values[key] = text
        if truncated:
            values[attr.FLUXLOOP_TRUNCATED] = [*values.get(attr.FLUXLOOP_TRUNCATED, ()), key]

    def _output(self, run: _Run, value: Any) -> None:
        span = run.span
        if span is None or not span.is_recording() or not run.capture_content:
            return
        span.set_attribute(run.output_attribute, self._json(run, value, run.output_attribute))


def _no_convention(run: _Run) -> Convention:  # pragma: no cover - hidden runs start no span
    raise AssertionError("a hidden run has no span")


def _no_attrs(run: _Run, conv: Convention) -> dict[str, Any]:  # pragma: no cover
    return {}


def _name_after_graph(span: Span, current: str | None, graph: str) -> bool:
    """Rename the agent span the runner wrapped around its target after the LangGraph graph
    running inside it (``invoke_agent WeatherGraph``, not ``invoke_agent run``)."""
    if current not in PROVISIONAL_AGENT_NAMES or graph in {_DEFAULT_GRAPH_NAME, current}:
        return False
    try:
        span.update_name(f"invoke_agent {graph}")
        pending = getattr(span, "_fluxloop_pending", None)  # attributes set when it ends
        if isinstance(pending, dict):
            pending[attr.GEN_AI_AGENT_NAME] = graph
        span.set_attribute(attr.GEN_AI_AGENT_NAME, graph)
    except Exception:
        logger.debug("fluxloop: could not rename the agent span", exc_info=True)
        return False
    return True


def _request_attributes(request: Mapping[str, float | int]) -> dict[str, Any]:
    names = {
        "temperature": attr.GEN_AI_REQUEST_TEMPERATURE,
        "top_p": attr.GEN_AI_REQUEST_TOP_P,
        "max_tokens": attr.GEN_AI_REQUEST_MAX_TOKENS,
    }
    return {names[key]: value for key, value in request.items() if key in names}


# ---------------------------------------------------------------------- global instrumentation


class _GlobalHandlerSlot:
    """The process-wide handler, read by langchain-core's configure hook.

    langchain-core adds the handler a configure hook's variable holds to every callback
    manager it configures, and only ever calls ``.get()`` on it; unlike a ``ContextVar`` this
    slot holds one value for every thread and task, which is what global instrumentation means.
    """

    def __init__(self) -> None:
        self.handler: FluxLoopCallbackHandler | None = None

    def get(self, default: Any = None) -> FluxLoopCallbackHandler | None:
        handler = self.handler
        return handler if handler is not None else default


_SLOT = _GlobalHandlerSlot()
_hook_registered = False
_instrument_lock = threading.Lock()


def instrument_langchain(
    handler: FluxLoopCallbackHandler | None = None, *, hide_internal: bool | None = None
) -> FluxLoopCallbackHandler:
    """Trace every LangChain (and LangGraph) run in this process; return the handler in use.

    Idempotent: calling it again keeps the handler already installed (``hide_internal``, when
    given, updates it). Reversible with :func:`uninstrument_langchain`. A handler also passed
    explicitly in ``callbacks`` is not added twice.
    """
    global _hook_registered
    from langchain_core.tracers.context import register_configure_hook

    with _instrument_lock:
        if not _hook_registered:
            register_configure_hook(
                cast("ContextVar[Any | None]", _SLOT),
                inheritable=True,
                handle_class=FluxLoopCallbackHandler,
            )
            _hook_registered = True
        if _SLOT.handler is None:
            _SLOT.handler = handler or FluxLoopCallbackHandler()
        if hide_internal is not None:
            _SLOT.handler.hide_internal = hide_internal
        return _SLOT.handler


def uninstrument_langchain() -> None:
    """Stop tracing LangChain globally (runs already in progress still end their spans)."""
    with _instrument_lock:
        _SLOT.handler = None


def is_langchain_instrumented() -> bool:
    """True between :func:`instrument_langchain` and :func:`uninstrument_langchain`."""
    return _SLOT.handler is not None


# instrumentation requested (runner.auto_instrument, the OpenTelemetry instrumentor) while this
# module was importing langchain-core: see fluxloop.integrations.autoinstrument
instrument_if_requested()
