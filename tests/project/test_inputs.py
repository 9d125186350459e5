"""Inputs files (ours and the original's formats), base_inputs x personas, argument binding."""

from __future__ import annotations

import pytest

from fluxloop.errors import InputError
from fluxloop.project.config import Persona
from fluxloop.project.inputs import load_inputs
from fluxloop.runner.binding import Binder, RunContext, apply_template
from tests.projects import Project

BASE = {
    "runner": {"target": "m:f"},
    "personas": [
        {"name": "novice_user", "description": "A user new to the system"},
        {"name": "expert_user", "description": "An experienced power user"},
    ],
    "base_inputs": [{"input": "How do I start?", "expected_intent": "help"}, "Plain string"],
}


def test_base_inputs_times_personas(project: Project) -> None:
    project.config(BASE)
    inputs = load_inputs(project.load())
    assert inputs.source == "base_inputs x personas"
    assert [(i.input, i.persona) for i in inputs.items] == [
        ("How do I start?", "novice_user"),
        ("How do I start?", "expert_user"),
        ("Plain string", "novice_user"),
        ("Plain string", "expert_user"),
    ]
    assert inputs.items[0].metadata["expected_intent"] == "help"
    assert [i.index for i in inputs.items] == [0, 1, 2, 3]


def test_base_input_with_its_own_persona_runs_once(project: Project) -> None:
    project.config({**BASE, "base_inputs": [{"input": "x", "persona": "expert_user"}]})
    assert [i.persona for i in load_inputs(project.load()).items] == ["expert_user"]


@pytest.mark.parametrize(
    "text",
    [
        # the seeds' run.md
        """\
        generated_inputs:
          - input: "How do I start?"
            persona: novice_user
          - input: "What are advanced options?"
            persona: expert_user
        """,
        # the original's newer writer (persona + metadata at top level of each entry)
        """\
        stats: {total_generated: 2}
        novice_user:
        - '[rephrase] How do I start?'
        inputs:
        - input: How do I start?
          strategy: rephrase
          persona: novice_user
        - input: What are advanced options?
          persona: expert_user
        generation_config: {generation_mode: llm}
        """,
        # the original's older writer (persona inside metadata)
        """\
        generated_at: '2025-11-15T14:30:21Z'
        metadata: {config_name: x}
        inputs:
        - input: How do I start?
          metadata: {strategy: typo, persona: novice_user}
        - input: What are advanced options?
          metadata: {persona: expert_user}
        """,
        # a plain list (input-config.md)
        """\
        - input: "How do I start?"
          persona: novice_user
          metadata:
            base_input: "How do I get started?"
        - input: "What are advanced options?"
          persona: expert_user
        """,
    ],
)
def test_inputs_file_formats(project: Project, text: str) -> None:
    project.config({**BASE, "inputs_file": "inputs/generated.yaml"})
    project.write("inputs/generated.yaml", text)
    inputs = load_inputs(project.load())
    assert [(i.input, i.persona) for i in inputs.items] == [
        ("How do I start?", "novice_user"),
        ("What are advanced options?", "expert_user"),
    ]


def test_jsonl_and_json_inputs_and_override(project: Project) -> None:
    project.config(BASE)
    project.write("a.jsonl", '{"input": "one", "persona": "novice_user"}\n\n"two"\n')
    project.write("b.json", '{"inputs": [{"input": "three"}]}')
    cfg = project.load()
    assert [i.input for i in load_inputs(cfg, project.root / "a.jsonl").items] == ["one", "two"]
    assert [i.input for i in load_inputs(cfg, project.root / "b.json").items] == ["three"]


def test_missing_inputs_file_falls_back_to_base_inputs_with_a_note(project: Project) -> None:
    project.config({**BASE, "inputs_file": "inputs/generated.yaml"})
    inputs = load_inputs(project.load())
    assert len(inputs.items) == 4
    assert "not found; using base_inputs" in inputs.notes[0]
    with pytest.raises(InputError, match="inputs file not found"):
        load_inputs(project.load(), project.root / "nope.yaml")


def test_inputs_file_problems_all_reported_with_lines(project: Project) -> None:
    project.config({**BASE, "inputs_file": "in.yaml"})
    project.write("in.yaml", "inputs:\n  - input: ok\n  - persona: x\n  - [1, 2]\n")
    with pytest.raises(InputError) as info:
        load_inputs(project.load())
    lines = str(info.value).splitlines()
    assert lines == [
        "in.yaml:3: inputs[1].input: required key is missing",
        "in.yaml:4: inputs[2]: expected a mapping with 'input' or a string, found list",
    ]


def test_persona_filter(project: Project) -> None:
    project.config(BASE)
    items = load_inputs(project.load(), personas=["expert_user"]).items
    assert {i.persona for i in items} == {"expert_user"}
    with pytest.raises(InputError, match="no inputs for ghost"):
        load_inputs(project.load(), personas=["ghost"])


def test_binding_prefers_known_input_names_and_injects_optional_context() -> None:
    persona = Persona(name="novice_user", description="new")

    def agent(
        self_like: int,
        query: str,
        persona: object = None,
        iteration: int = -1,
        messages: list[object] | None = None,
        persona_prompt: str | None = None,
        context: dict[str, object] | None = None,
        conversation_state: object = None,
        auto_approve: bool = False,
    ) -> None: ...

    binder = Binder(agent)
    ctx = RunContext(
        input="hi",
        iteration=3,
        persona=persona,
        persona_name="novice_user",
        run_id="r1",
        experiment="e",
    )
    args, kwargs = binder.bind(ctx)
    assert args == ()
    assert kwargs["query"] == "hi"
    assert kwargs["persona"] is persona
    assert kwargs["iteration"] == 3
    assert kwargs["messages"] == [{"role": "user", "content": "hi"}]
    assert kwargs["persona_prompt"].startswith("Persona: novice_user")
    assert kwargs["context"]["persona"] == "novice_user"
    assert kwargs["conversation_state"]["turns"] == [{"role": "user", "content": "hi"}]
    assert kwargs["auto_approve"] is True
    assert "self_like" not in kwargs


def test_binding_falls_back_to_first_positional_parameter() -> None:
    def agent(prompt_text: str, iteration: int = 0) -> None: ...

    _, kwargs = Binder(agent).bind(RunContext(input="x", iteration=2))
    assert kwargs == {"prompt_text": "x", "iteration": 2}

    def varargs(*args: object) -> None: ...

    assert Binder(varargs).bind(RunContext(input="x")) == (("x",), {})

    def nothing() -> None: ...

    assert Binder(nothing).bind(RunContext(input="x")) == ((), {})


def test_input_template_applies_with_a_persona() -> None:
    persona = Persona(name="p", description="d")
    assert apply_template("[{persona}] {input}", "hi", persona).endswith("] hi")
    assert apply_template("[{persona}] {input}", "hi", None) == "hi"


def test_default_inputs_file_when_nothing_else_is_configured(project: Project) -> None:
    project.config({"runner": {"target": "m:f"}})
    project.write("inputs/generated.yaml", "generated_inputs:\n  - input: generated\n")
    inputs = load_inputs(project.load())
    assert [i.input for i in inputs.items] == ["generated"]
    # seed 002: --inputs defaults to inputs/generated.yaml, also beside base_inputs (what
    # `generate inputs` just wrote is what runs); the label says why it was chosen
    project.config({"runner": {"target": "m:f"}, "base_inputs": ["explicit"]})
    chosen = load_inputs(project.load())
    assert [i.input for i in chosen.items] == ["generated"]
    assert chosen.source == "inputs/generated.yaml, the default --inputs"
    project.config({"runner": {"target": "m:f"}})
    (project.root / "inputs/generated.yaml").unlink()
    with pytest.raises(InputError, match="no inputs to run"):
        load_inputs(project.load())


def test_an_unknown_persona_in_an_inputs_file_is_an_error(project: Project) -> None:
    """Issue #12 point 16: it used to run as a bare persona without a word."""
    project.config({**BASE, "inputs_file": "in.yaml"})
    project.write(
        "in.yaml",
        "inputs:\n  - input: ok\n    persona: novice_user\n"
        "  - input: hi\n    persona: expret_user\n",
    )
    with pytest.raises(InputError) as info:
        load_inputs(project.load())
    assert str(info.value) == (
        "in.yaml:4: inputs[1].persona: unknown persona 'expret_user' (known: expert_user, "
        "novice_user); define it under personas: or fix the inputs file"
    )
    project.write("a.jsonl", '{"input": "one", "persona": "nobody"}\n')
    with pytest.raises(InputError, match=r"a\.jsonl:1: persona: unknown persona 'nobody'"):
        load_inputs(project.load(), project.root / "a.jsonl")


def test_jsonl_inputs_file_bad_lines_are_all_reported_with_their_numbers(project: Project) -> None:
    project.config(BASE)
    project.write("a.jsonl", '{"input": "one"}\n{"input": \n\n"two"\n[1, \n')
    with pytest.raises(InputError) as caught:
        load_inputs(project.load(), project.root / "a.jsonl")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("a.jsonl:2: invalid JSON: ")
    assert lines[1].startswith("a.jsonl:5: invalid JSON: ")
