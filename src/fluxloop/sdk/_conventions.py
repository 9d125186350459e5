"""How each observation type becomes a span: name, kind and the attributes known up front.

This is the single place that applies the GenAI semantic conventions (as pinned in
``fluxloop_semconv``) to FluxLoop's observation types; decorators, the manual context API and
``event()`` all build their spans from a :class:`Convention`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry.trace import SpanKind

from fluxloop.sdk._genai import infer_provider
from fluxloop.sdk._models import ObservationType

AttributeMap = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Convention:
    """The span shape of one decorated function or manual observation."""

    observation_type: str
    span_name: str
    kind: SpanKind
    static_attributes: AttributeMap = field(default_factory=dict)
    input_attribute: str = attr.FLUXLOOP_INPUT
    output_attribute: str = attr.FLUXLOOP_OUTPUT


def observation_type_of(value: ObservationType | str) -> str:
    """Normalise an observation type given as enum or string (case-insensitive)."""
    text = value.value if isinstance(value, ObservationType) else str(value).strip().lower()
    try:
        return ObservationType(text).value
    except ValueError:
        allowed = ", ".join(t.value for t in ObservationType)
        raise ValueError(f"observation_type: expected one of {allowed}, found {value!r}") from None


def build_convention(
    observation_type: ObservationType | str,
    name: str,
    *,
    description: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    data_source: str | None = None,
    tool_type: str | None = "function",
    extra: AttributeMap | None = None,
) -> Convention:
    """The :class:`Convention` for an observation of ``observation_type`` named ``name``."""
    kind_of = observation_type_of(observation_type)
    attrs: AttributeMap = {
        attr.FLUXLOOP_OBSERVATION_TYPE: kind_of,
        attr.FLUXLOOP_OBSERVATION_NAME: name,
    }
    span_kind = SpanKind.INTERNAL
    span_name = name
    input_attribute, output_attribute = attr.FLUXLOOP_INPUT, attr.FLUXLOOP_OUTPUT
    if kind_of == "agent":
        span_name = f"invoke_agent {name}"
        attrs[attr.GEN_AI_OPERATION_NAME] = "invoke_agent"
        attrs[attr.GEN_AI_AGENT_NAME] = name
        if description:
            attrs[attr.GEN_AI_AGENT_DESCRIPTION] = description
    elif kind_of == "tool":
        span_name = f"execute_tool {name}"
        attrs[attr.GEN_AI_OPERATION_NAME] = "execute_tool"
        attrs[attr.GEN_AI_TOOL_NAME] = name
        if tool_type:
            attrs[attr.GEN_AI_TOOL_TYPE] = tool_type
        if description:
            attrs[attr.GEN_AI_TOOL_DESCRIPTION] = description
        input_attribute = attr.GEN_AI_TOOL_CALL_ARGUMENTS
        output_attribute = attr.GEN_AI_TOOL_CALL_RESULT
    elif kind_of in {"generation", "embedding"}:
        operation = "chat" if kind_of == "generation" else "embeddings"
        span_kind = SpanKind.CLIENT
        span_name = f"{operation} {model}" if model else operation
        attrs[attr.GEN_AI_OPERATION_NAME] = operation
        if model:
            attrs[attr.GEN_AI_REQUEST_MODEL] = model
        provider = provider or infer_provider(model)
        if provider:
            attrs[attr.GEN_AI_PROVIDER_NAME] = provider
    elif kind_of == "retrieval":
        span_kind = SpanKind.CLIENT
        span_name = f"retrieval {data_source}" if data_source else "retrieval"
        attrs[attr.GEN_AI_OPERATION_NAME] = "retrieval"
        if data_source:
            attrs[attr.GEN_AI_DATA_SOURCE_ID] = data_source
        if provider:
            attrs[attr.GEN_AI_PROVIDER_NAME] = provider
    if extra:
        attrs.update(extra)
    _drop_derivable(attrs, kind_of, name, span_name)
    return Convention(kind_of, span_name, span_kind, attrs, input_attribute, output_attribute)


def _drop_derivable(attrs: AttributeMap, kind_of: str, name: str, span_name: str) -> None:
    """Leave out what readers derive anyway: every attribute costs about a microsecond per call.

    The type follows from ``gen_ai.operation.name`` (or is the default ``span``); the name from
    ``gen_ai.agent.name`` / ``gen_ai.tool.name`` or the span name (see the semconv registry's
    requirement levels and the contract encoder's fallbacks).
    """
    if attr.GEN_AI_OPERATION_NAME in attrs or kind_of == "span":
        del attrs[attr.FLUXLOOP_OBSERVATION_TYPE]
    if kind_of in {"agent", "tool"} or name == span_name:
        del attrs[attr.FLUXLOOP_OBSERVATION_NAME]
