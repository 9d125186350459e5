"""The configuration schema: every key FluxLoop reads, as one set of pydantic models.

One model, :class:`FluxLoopConfig`, describes the whole configuration, whether it is written as
one ``setting.yaml`` or split over ``configs/{project,input,simulation,evaluation}.yaml`` (each
of those files is a part of it, so each validates against the same model). The runner, input
generation and evaluation all read values this model has checked; :mod:`.problems` turns
pydantic's errors into FluxLoop's ``file:line: key: expected X, found Y`` lines, and
:func:`json_schema` is what ``fluxloop config schema`` prints for editors.

Conventions, so the messages stay those of the earlier hand-written validators:

* values are strict (``"5"`` is not an integer, ``1`` is not ``true``), and every key may be
  ``null`` (the default applies), except the few that are required;
* every section forbids unknown keys: :mod:`.problems` turns a close match into an error with a
  suggestion and any other unknown key into a warning, so other tools' keys still load;
* a value that may take several shapes (a path or a list of paths) is a union whose branch is
  chosen by the shape of the value (:func:`shape`), so a wrong value gives one error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "EVALUATION_KEYS",
    "EVALUATOR_TYPES",
    "EVALUATOR_TYPE_ALIASES",
    "JUDGE_PARSERS",
    "SCHEMA_FILE",
    "EvaluationKeys",
    "Expect",
    "FluxLoopConfig",
    "json_schema",
    "json_schema_text",
    "modeline",
    "shape",
]

#: the file ``fluxloop init project`` writes beside the configuration
SCHEMA_FILE = ".fluxloop-schema.json"

EVALUATOR_TYPES = ("rule_based", "llm_judge", "custom")
EVALUATOR_TYPE_ALIASES = {
    "rule": "rule_based",
    "rules": "rule_based",
    "llm": "llm_judge",
    "judge": "llm_judge",
    "function": "custom",
    "python": "custom",
}
JUDGE_PARSERS = ("first_number_1_10", "json_score", "first_float")


class Expect:
    """What a value must be, in words, when its type alone does not say it well."""

    def __init__(self, text: str) -> None:
        self.text = text


def _is_scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise PydanticCustomError("expected", "expected a string, number or boolean")
    return value


def _is_text(value: Any) -> Any:
    if not isinstance(value, (str, int, float)):  # numbers too, as the original
        raise PydanticCustomError("expected", "expected a string")
    return value


def _unsupported(message: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        raise PydanticCustomError("fluxloop", message)

    return check


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def shape(value: Any) -> str | None:
    """The branch of a shape union a value takes: ``str``, ``list`` or ``mapping``."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return None


# strict scalars (a quoted "5" is not a number; 1 is not true)
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
Num = Annotated[float, Strict()]
Dict = dict[str, Any]
Scalar = Annotated[
    Any,
    AfterValidator(_is_scalar),
    Expect("a string, number or boolean"),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
# the original accepted numbers among the strings of these lists
StrItem = Annotated[
    Any,
    AfterValidator(_is_text),
    Expect("a string"),
    WithJsonSchema({"type": ["string", "number"]}),
]
StrList = list[StrItem]
NonNegative = Annotated[Num, Field(ge=0)]
Positive = Annotated[Num, Field(gt=0)]
Fraction = Annotated[Num, Field(ge=0, le=1)]
Count = Annotated[Int, Field(ge=1)]
PathOrPaths = Annotated[
    Annotated[Str, Tag("str")] | Annotated[list[Str], Tag("list")],
    Discriminator(shape),
    Expect("a path or a list of paths"),
]


_HTTP = "HTTP runners are not supported; expose a Python callable and set runner.target"
_PROCESS = "subprocess runners are not supported; expose a Python callable and set runner.target"
HttpRunner = Annotated[
    Any, AfterValidator(_unsupported(_HTTP)), WithJsonSchema({"not": {}, "description": _HTTP})
]
ProcessRunner = Annotated[
    Any,
    AfterValidator(_unsupported(_PROCESS)),
    WithJsonSchema({"not": {}, "description": _PROCESS}),
]


class Section(BaseModel):
    """A mapping of known keys; unknown keys are reported (see :mod:`.problems`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class OpenSection(BaseModel):
    """A mapping with some known keys and any others (passed through unchecked)."""

    model_config = ConfigDict(extra="allow", defer_build=True)


# --- simulation: runner, replay, multi-turn, cassettes, output ---------------------------------


class Guards(Section):
    max_duration: Scalar = Field(None, description='A duration: 90, "90s", "2m", "1h"')
    output_char_limit: Count | None = None


class Executor(Section):
    """Where runs execute: this process (``local``) or a Ray cluster (``ray``)."""

    type: Literal["local", "ray"] | None = None
    address: Str | None = Field(None, description="ray: auto, HOST:PORT or ray://HOST:PORT")
    num_cpus_per_run: NonNegative | None = None
    num_gpus_per_run: NonNegative | None = None
    resources: dict[str, Num] | None = None
    max_in_flight: Count | None = None
    reuse_workers: Bool | None = None
    excludes: StrList | None = None


class Runner(Section):
    """How to call the agent: ``target`` is ``module:function`` or ``module:Class.method``."""

    target: Str | None = Field(None, description='"module:function" or "module:Class.method"')
    module_path: Str | None = Field(None, description="legacy: the module of the target")
    function_name: Str | None = Field(None, description="legacy: the function of the target")
    working_directory: Str | None = None
    python_path: PathOrPaths | None = None
    environment_vars: dict[str, Scalar] | None = None
    timeout_seconds: Positive | None = None
    max_retries: Annotated[Int, Field(ge=0, le=100)] | None = None
    retry_delay: NonNegative | None = None
    factory: Str | None = None
    factory_kwargs: Dict | None = None
    stream_output_path: Str | None = None
    auto_instrument: Bool | None = None
    iterations: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    guards: Guards | None = None
    setup_commands: list[Any] | None = None
    executor: (
        Annotated[
            Annotated[Literal["local", "ray"], Tag("str")] | Annotated[Executor, Tag("mapping")],
            Discriminator(shape),
            Expect("a mapping (or local or ray)"),
        ]
        | None
    ) = None
    docker: Any = None
    http: HttpRunner = None
    process: ProcessRunner = None


class Replay(Section):
    """Argument replay: call the target with recorded arguments."""

    enabled: Bool | None = None
    recording_file: Str | None = None
    override_param_path: Str | None = None
    callable_providers: dict[str, Str] | None = None
    use: Scalar = Field(None, description="which recorded call: last, first, all or an index")
    secrets: dict[str, Str] | None = None
    error_callback_fails_run: Bool | None = None


class SupervisorMetadata(Section):
    scripted_questions: StrList | None = None
    mock_decision: Literal["terminate", "continue"] | None = None
    mock_reason: Str | None = None
    mock_closing: Str | None = None
    mock_next_user_message: Str | None = None


class Supervisor(Section):
    """The simulated user of multi-turn runs."""

    provider: Str | None = None
    model: Str | None = None
    temperature: NonNegative | None = None
    max_tokens: Count | None = None
    system_prompt: Str | None = None
    api_key: Str | None = None
    base_url: Str | None = None
    request_timeout: Positive | None = None
    max_retries: Annotated[Int, Field(ge=0)] | None = None
    retry_delay: NonNegative | None = None
    concurrency: Count | None = None
    script: StrList | None = None
    scripted_questions: StrList | None = None
    metadata: SupervisorMetadata | None = None


class MultiTurn(Section):
    enabled: Bool | None = None
    max_turns: Annotated[Int, Field(ge=1, le=1000)] | None = None
    auto_approve_tools: Bool | None = None
    persona_override: Str | None = None
    persona: Str | None = None
    goal_phrases: StrList | None = None
    supervisor: Supervisor | None = None


class Cassette(Section):
    mode: Literal["record", "replay", "auto", "off"] | None = None
    dir: Str | None = None
    timing: Literal["instant", "recorded"] | None = None


class Output(Section):
    directory: Str | None = None
    format: Literal["jsonl"] | None = None


class LangChain(Section):
    hide_internal: Bool | None = None


# --- inputs: personas, base inputs, generation ----------------------------------------------------


class Persona(Section):
    """A simulated user; injected into targets that take a ``persona`` parameter."""

    name: Annotated[Str, Field(min_length=1)]
    description: Str | None = None
    characteristics: StrList | None = None
    language: Str | None = None
    expertise_level: Str | None = None
    goals: StrList | None = None
    constraints: StrList | None = None
    custom_attributes: Dict | None = None
    metadata: Dict | None = None


class BaseInput(OpenSection):
    """One input; keys other than ``input`` (persona, metadata...) travel with it."""

    input: Annotated[Any, Field(description="the text (or value) sent to the target")]


class GenerationLLM(Section):
    """The chat model of ``fluxloop generate inputs --mode llm``."""

    enabled: Bool | None = None
    provider: Str | None = Field(None, description="openai, anthropic, gemini or module:factory")
    model: Str | None = None
    api_key: Str | None = None
    base_url: Str | None = None
    api_base: Str | None = None
    temperature: Num | None = None
    top_p: Num | None = None
    frequency_penalty: Num | None = None
    presence_penalty: Num | None = None
    max_tokens: Count | None = None
    max_outputs: Int | None = None
    request_timeout: Num | None = None
    timeout: Num | None = None
    max_retries: Annotated[Int, Field(ge=0)] | None = None
    parse_retries: Annotated[Int, Field(ge=0)] | None = None
    retry_delay: NonNegative | None = None
    max_retry_delay: Num | None = None
    concurrency: Count | None = None
    max_concurrency: Count | None = None
    batch_size: Int | None = None
    system_prompt: Str | None = None
    user_prompt_template: Str | None = None
    strategy_prompts: Dict | None = None
    metadata: Dict | None = None
    reasoning_effort: Str | None = None
    text_verbosity: Str | None = None
    seed: Int | None = None
    cache: Bool | None = None
    cache_dir: Str | None = None
    model_kwargs: Dict | None = None


class InputGeneration(Section):
    """``fluxloop generate inputs``: how variations of the base inputs are made."""

    mode: Annotated[Literal["llm", "deterministic"], BeforeValidator(_lower)] | None = None
    llm: GenerationLLM | None = None
    strategies: list[Any] | None = None
    variation_count: Count | None = None
    seed: Int | None = None
    limit: Count | None = None
    templates: (
        dict[
            str,
            Annotated[
                Annotated[Str, Tag("str")] | Annotated[list[Str], Tag("list")],
                Discriminator(shape),
                Expect("a template string or a list of them"),
            ],
        ]
        | None
    ) = None
    dedupe: Bool | None = None
    output: Str | None = None
    cache: Bool | None = None
    cache_dir: Str | None = None
    concurrency: Count | None = None


# --- evaluation ---------------------------------------------------------------------------------


class Rule(OpenSection):
    """One rule: ``check`` names it, the other keys are its parameters."""

    check: Str


class _EvaluatorBase(Section):
    name: Scalar = None
    enabled: Bool | None = None
    weight: NonNegative | None = None
    threshold: Fraction | None = None
    required: Bool | None = None
    description: Str | None = None
    metadata: Dict | None = None


class RuleEvaluator(_EvaluatorBase):
    type: Literal["rule_based", "rule", "rules"]
    rules: Annotated[
        list[
            Annotated[
                Annotated[Str, Tag("str")] | Annotated[Rule, Tag("mapping")],
                Discriminator(shape),
                Expect("a check name or {check: ...}"),
            ]
        ],
        Field(min_length=1),
        Expect("a non-empty list of {check: ...} rules"),
    ]


class JudgeEvaluator(_EvaluatorBase):
    type: Literal["llm_judge", "llm", "judge"]
    model: Str | None = None
    provider: Str | None = Field(None, description="openai or anthropic")
    model_parameters: Dict | None = None
    chat_model: Str | None = Field(None, description="module:attr of a LangChain chat model")
    factory_kwargs: Dict | None = None
    prompt_template: Str | None = None
    max_score: Positive | None = None
    parser: Literal["first_number_1_10", "json_score", "first_float"] | None = None
    criteria: (
        Annotated[
            list[
                Annotated[
                    Annotated[Str, Tag("str")] | Annotated[Dict, Tag("mapping")],
                    Discriminator(shape),
                    Expect("a text or {name, description}"),
                ]
            ],
            Field(min_length=1),
            Expect("a non-empty list of criteria"),
        ]
        | None
    ) = None
    rubric: Scalar = None
    inconclusive: Literal["fail", "ignore"] | None = None
    include_trace: Bool | None = None
    max_trace_chars: Annotated[Int, Field(ge=100)] | None = None
    judge_failed_runs: Bool | None = None


class CustomEvaluator(_EvaluatorBase):
    type: Literal["custom", "function", "python"]
    function: Str | None = Field(None, description="module:function")
    callable: Str | None = None
    target: Str | None = None
    params: Dict | None = None


def evaluator_type(value: Any) -> str | None:
    """The evaluator branch of a mapping: its ``type`` with the aliases resolved."""
    if not isinstance(value, dict) or value.get("type") is None:
        return None
    raw = str(value["type"])
    return EVALUATOR_TYPE_ALIASES.get(raw, raw)


Evaluator = Annotated[
    Annotated[RuleEvaluator, Tag("rule_based")]
    | Annotated[JudgeEvaluator, Tag("llm_judge")]
    | Annotated[CustomEvaluator, Tag("custom")],
    Discriminator(evaluator_type),
    Expect("a mapping with name and type"),
]


class Aggregate(Section):
    method: Literal["weighted_sum", "average"] | None = None
    threshold: Fraction | None = None
    by_persona: Bool | None = None
    k: Count | None = Field(None, description="runs per input for pass@k and pass^k")


class Limits(Section):
    sample_rate: Fraction | None = None
    max_llm_calls: Annotated[Int, Field(ge=0)] | None = None
    timeout_seconds: Annotated[Num, Field(ge=0.001)] | None = None
    cache: Any = None
    concurrency: Annotated[Int, Field(ge=1, le=256)] | None = None
    llm_concurrency: Annotated[Int, Field(ge=1, le=256)] | None = None
    retries: Annotated[Int, Field(ge=0, le=10)] | None = None
    llm_retries: Annotated[Int, Field(ge=0, le=10)] | None = None
    retry_delay: NonNegative | None = None
    circuit_breaker: Annotated[Int, Field(ge=0)] | None = None


class Thresholds(Section):
    """The gate ``fluxloop evaluate`` applies (exit 1 below it)."""

    pass_rate: Fraction | None = None
    mean_score: Fraction | None = None
    success_rate: Fraction | None = None
    pass_at_k: Fraction | None = None
    pass_hat_k: Fraction | None = None
    evaluators: dict[str, Fraction] | None = None


class TimeCriterion(Section):
    enabled: Bool | None = None
    threshold_ms: NonNegative | None = None


class RateCriterion(Section):
    enabled: Bool | None = None
    threshold_percent: NonNegative | None = None


class Performance(Section):
    all_traces_successful: Bool | None = None
    avg_response_time: TimeCriterion | None = None
    max_response_time: TimeCriterion | None = None
    error_rate: RateCriterion | None = None


class SuccessCriteria(Section):
    performance: Performance | None = None
    quality: Dict | None = Field(None, description="evaluator name: true (must pass)")
    functionality: Dict | None = None


class EvaluationKeys(Section):
    """The evaluation part (``configs/evaluation.yaml``), read by ``fluxloop evaluate``."""

    evaluation_goal: (
        Annotated[
            Annotated[Str, Tag("str")] | Annotated[Dict, Tag("mapping")],
            Discriminator(shape),
            Expect("a text or {text: ...}"),
        ]
        | None
    ) = None
    evaluators: list[Evaluator] | None = None
    aggregate: Aggregate | None = None
    limits: Limits | None = None
    thresholds: Thresholds | None = None
    success_criteria: SuccessCriteria | None = None
    additional_analysis: Dict | None = None
    report: Dict | None = None
    advanced: Dict | None = None
    metrics: Dict | None = Field(None, description="the 0.3 metric schema (one rubric judge)")
    efficiency: Dict | None = None
    evaluation: Dict | None = None


EVALUATION_KEYS = frozenset(EvaluationKeys.model_fields)


class FluxLoopConfig(EvaluationKeys):
    """The whole FluxLoop configuration (``setting.yaml``, or ``configs/*.yaml`` merged)."""

    model_config = ConfigDict(title="FluxLoop configuration")

    # project.yaml
    name: Scalar = Field(None, description="the experiment name (default: the directory name)")
    description: Str | None = None
    version: Scalar = None
    tags: StrList | None = None
    metadata: Dict | None = None
    source_root: Str | None = None
    collector_url: Str | None = Field(None, description="FLUXLOOP_COLLECTOR_URL overrides it")
    collector_api_key: Str | None = Field(None, description="FLUXLOOP_API_KEY overrides it")
    # simulation.yaml
    iterations: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    parallel_runs: Annotated[Int, Field(ge=1, le=1000)] | None = None
    run_delay_seconds: NonNegative | None = None
    seed: Int | None = None
    runner: Runner | None = None
    replay_args: Replay | None = None
    multi_turn: MultiTurn | None = None
    cassette: Cassette | None = None
    langchain: LangChain | None = None
    output_directory: Str | None = None
    output: Output | None = None
    save_traces: Bool | None = None
    save_aggregated_metrics: Bool | None = None
    success_threshold: Fraction | None = None
    # input.yaml
    personas: list[Persona] | None = None
    base_inputs: (
        list[
            Annotated[
                Annotated[Str, Tag("str")] | Annotated[BaseInput, Tag("mapping")],
                Discriminator(shape),
                Expect("a mapping with 'input' or a string"),
            ]
        ]
        | None
    ) = None
    inputs_file: Str | None = None
    input_template: Str | None = None
    variation_strategies: list[Any] | None = None
    variation_count: Count | None = None
    variation_temperature: NonNegative | None = None
    variation_model: Str | None = None
    custom_variation_prompt: Str | None = None
    input_generation: InputGeneration | None = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the configuration, for editors and other tools."""
    schema = FluxLoopConfig.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated from fluxloop.project.schema by `fluxloop config schema`; "
        "do not edit.",
        **schema,
    }


def json_schema_text() -> str:
    """:func:`json_schema` as the text written to files (stable: sorted keys, newline)."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def modeline(config_file: Path, schema_file: Path) -> str:
    """The first line that points YAML-language-server editors at ``schema_file``."""
    relative = os.path.relpath(schema_file, config_file.parent)
    return f"# yaml-language-server: $schema={Path(relative).as_posix()}\n"
