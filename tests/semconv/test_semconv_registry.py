"""The generated modules: the fixed attribute set, enums, the upstream pin, span definitions."""

from __future__ import annotations

import importlib

import fluxloop_semconv
import pytest
from fluxloop_semconv import attributes as a
from fluxloop_semconv import spans as s

FIXED_ATTRIBUTES = {
    "error.type": "string",
    "gen_ai.operation.name": "enum",
    "gen_ai.provider.name": "string",
    "gen_ai.agent.name": "string",
    "gen_ai.agent.description": "string",
    "gen_ai.conversation.id": "string",
    "gen_ai.tool.name": "string",
    "gen_ai.tool.description": "string",
    "gen_ai.tool.type": "string",
    "gen_ai.tool.call.id": "string",
    "gen_ai.tool.call.arguments": "string",
    "gen_ai.tool.call.result": "string",
    "gen_ai.request.model": "string",
    "gen_ai.request.temperature": "double",
    "gen_ai.request.max_tokens": "int",
    "gen_ai.request.top_p": "double",
    "gen_ai.request.stream": "boolean",
    "gen_ai.response.model": "string",
    "gen_ai.response.id": "string",
    "gen_ai.response.finish_reasons": "string[]",
    "gen_ai.response.time_to_first_chunk": "double",
    "gen_ai.usage.input_tokens": "int",
    "gen_ai.usage.output_tokens": "int",
    "gen_ai.usage.cache_read.input_tokens": "int",
    "gen_ai.usage.reasoning.output_tokens": "int",
    "gen_ai.input.messages": "string",
    "gen_ai.output.messages": "string",
    "gen_ai.system_instructions": "string",
    "gen_ai.data_source.id": "string",
    "gen_ai.retrieval.query.text": "string",
    "gen_ai.retrieval.documents": "string",
    "gen_ai.embeddings.dimension.count": "int",
    "gen_ai.workflow.name": "string",
    "fluxloop.observation.type": "enum",
    "fluxloop.observation.name": "string",
    "fluxloop.observation.level": "enum",
    "fluxloop.input": "string",
    "fluxloop.output": "string",
    "fluxloop.metadata": "string",
    "fluxloop.tags": "string[]",
    "fluxloop.session.id": "string",
    "fluxloop.user.id": "string",
    "fluxloop.stream.chunk_count": "int",
    "fluxloop.truncated": "string[]",
    "fluxloop.experiment.id": "string",
    "fluxloop.experiment.name": "string",
    "fluxloop.run.id": "string",
    "fluxloop.run.iteration": "int",
    "fluxloop.run.persona": "string",
    "fluxloop.run.input_index": "int",
    "fluxloop.run.attempt": "int",
    "fluxloop.conversation.turn": "int",
}

OBSERVATION_TYPES = (
    "agent",
    "tool",
    "generation",
    "retrieval",
    "embedding",
    "span",
    "event",
    "chain",
    "evaluation",
)


@pytest.mark.parametrize("attribute", sorted(FIXED_ATTRIBUTES))
def test_fixed_attribute_exists(attribute: str) -> None:
    constant = attribute.upper().replace(".", "_")
    assert getattr(a, constant) == attribute
    assert attribute in a.ALL_ATTRIBUTES
    assert a.ATTRIBUTE_TYPES[attribute] == FIXED_ATTRIBUTES[attribute]


def test_all_attributes_matches_constants() -> None:
    constants = {
        value
        for name, value in vars(a).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("UPSTREAM_")
    }
    assert constants == set(a.ALL_ATTRIBUTES) == set(a.ATTRIBUTE_TYPES)


def test_upstream_pin() -> None:
    assert a.UPSTREAM_REPOSITORY == "open-telemetry/semantic-conventions-genai"
    assert a.UPSTREAM_PATH == "model/gen-ai"
    assert a.UPSTREAM_COMMIT == "11069855"


def test_enums() -> None:
    operations = {m.value for m in a.GenAiOperationNameValues}
    assert operations >= {
        "chat",
        "text_completion",
        "generate_content",
        "embeddings",
        "retrieval",
        "execute_tool",
        "invoke_agent",
        "invoke_workflow",
        "create_agent",
    }
    assert a.GenAiOperationNameValues.INVOKE_AGENT == "invoke_agent"
    assert tuple(a.FluxloopObservationTypeValues) == OBSERVATION_TYPES
    assert [m.value for m in a.FluxloopObservationLevelValues] == [
        "debug",
        "info",
        "warning",
        "error",
    ]


def test_package_exports_nothing_heavy() -> None:
    assert fluxloop_semconv.__all__ == ["__version__"]
    assert isinstance(fluxloop_semconv.__version__, str)
    assert importlib.import_module("fluxloop_semconv.attributes") is a
    assert importlib.import_module("fluxloop_semconv.spans") is s


def test_span_definitions_for_all_observation_types() -> None:
    assert tuple(s.SPAN_DEFINITIONS) == OBSERVATION_TYPES
    for observation_type, definition in s.SPAN_DEFINITIONS.items():
        assert definition.observation_type == observation_type
        levels = dict(definition.attributes)
        # derivable from gen_ai.operation.name / gen_ai.*.name / the span name, so the SDK omits
        # them where it can (each attribute costs about a microsecond per call)
        assert levels[a.FLUXLOOP_OBSERVATION_TYPE] == s.RequirementLevel.CONDITIONALLY_REQUIRED
        assert levels[a.FLUXLOOP_OBSERVATION_NAME] == s.RequirementLevel.CONDITIONALLY_REQUIRED
        assert set(levels) <= a.ALL_ATTRIBUTES
        if definition.operation_name is not None:
            assert levels[a.GEN_AI_OPERATION_NAME] == s.RequirementLevel.REQUIRED


@pytest.mark.parametrize(
    ("observation_type", "template", "kind", "operation"),
    [
        ("agent", "invoke_agent {gen_ai.agent.name}", "internal", "invoke_agent"),
        ("tool", "execute_tool {gen_ai.tool.name}", "internal", "execute_tool"),
        ("generation", "chat {gen_ai.request.model}", "client", "chat"),
        ("retrieval", "retrieval {gen_ai.data_source.id}", "client", "retrieval"),
        ("embedding", "embeddings {gen_ai.request.model}", "client", "embeddings"),
        ("span", "{fluxloop.observation.name}", "internal", None),
        ("event", "{fluxloop.observation.name}", "internal", None),
        ("chain", "{fluxloop.observation.name}", "internal", None),
        ("evaluation", "{fluxloop.observation.name}", "internal", None),
    ],
)
def test_span_definition(
    observation_type: str, template: str, kind: str, operation: str | None
) -> None:
    definition = s.SPAN_DEFINITIONS[observation_type]
    assert definition.name_template == template
    assert definition.span_kind == kind
    assert definition.operation_name == operation


def test_span_required_attributes() -> None:
    tool = s.SPAN_DEFINITIONS["tool"]
    assert a.GEN_AI_TOOL_NAME in tool.attributes_with_level(s.RequirementLevel.REQUIRED)
    generation = s.SPAN_DEFINITIONS["generation"]
    required = generation.attributes_with_level(s.RequirementLevel.REQUIRED)
    assert a.GEN_AI_PROVIDER_NAME in required
    assert a.GEN_AI_INPUT_MESSAGES in generation.attributes_with_level(s.RequirementLevel.OPT_IN)
    agent = dict(s.SPAN_DEFINITIONS["agent"].attributes)
    assert a.GEN_AI_PROVIDER_NAME not in agent  # upstream: not on internal agent spans


def test_span_name() -> None:
    agent = s.SPAN_DEFINITIONS["agent"]
    assert agent.span_name({a.GEN_AI_AGENT_NAME: "Math Tutor"}) == "invoke_agent Math Tutor"
    assert agent.span_name({}) == "invoke_agent"
    plain = s.SPAN_DEFINITIONS["span"]
    assert plain.span_name({a.FLUXLOOP_OBSERVATION_NAME: "step"}) == "step"
    assert plain.span_name({}) == "span"
