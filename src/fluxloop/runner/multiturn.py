"""Multi-turn runs: the target holds a whole conversation with a simulated user.

Configured by ``multi_turn`` (the seeds' simulation.yaml)::

    multi_turn:
      enabled: true
      max_turns: 8                 # agent replies per conversation (--max-turns overrides)
      persona_override: null       # (or ``persona``) force one persona for every conversation
      goal_phrases: []             # an agent reply containing one of these ends it: goal_met
      supervisor:
        provider: openai           # openai | anthropic | gemini | module:factory (an LLM)
                                   # mock | script (scripted user turns, no LLM)
        model: gpt-4o-mini
        temperature: 0.2
        system_prompt: null        # extra instructions for the simulated user
        base_url: null             # any OpenAI-compatible server
        metadata:
          scripted_questions: []   # (or supervisor.script) follow-up user turns, in order
          mock_decision: terminate # when the script runs out: terminate | continue
          mock_reason: script_complete
          mock_closing: "Thanks for the help."
          mock_next_user_message: null

Each input starts a conversation; after every agent reply the supervisor decides whether the
simulated user continues (and with what message) or stops. The LLM supervisor role-plays the
run's persona and pursues its goals one by one (its description, characteristics, goals and
constraints, plus ``metadata.service_context`` are in its instructions).

Binding: the current user message goes to the input parameter as in single-turn runs;
``messages``/``history``/``turns`` receive the whole conversation so far
(``[{"role": "user"|"assistant", "content": ...}]``, ending with the current user message) and
``conversation_state``/``state``/``dialog_state`` receive ``{"turns", "metadata",
"context"}`` where ``context`` is one dict kept for the whole conversation (the agent may store
its own state there). An agent reply that is a mapping with ``conversation_ended: true`` (or
``end_conversation``) ends the conversation.

Termination reasons: ``goal_met``, ``max_turns_reached``, ``supervisor_stop`` (with
``termination_detail``), ``script_complete`` (or the script's ``mock_reason``), ``agent_stop``,
``error`` (the agent failed or timed out: the run fails) and ``supervisor_error`` (the simulated
user could not answer: the run fails).

Tracing: one trace per conversation (a ``conversation`` root span, ``gen_ai.conversation.id``),
one ``turn N`` span per turn (``fluxloop.conversation.turn``, zero-based) holding the agent's
spans and the simulated user's decision. ``trace_summary.jsonl`` gets ``conversation``,
``conversation_state``, ``termination_reason``, ``turn_count``, ``multi_turn`` and
``simulation`` (the simulated user's calls and tokens; the agent's own tokens stay in
``token_usage``). ``summary.json`` gets a ``multi_turn`` section.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fluxloop_semconv import attributes as attr

from fluxloop.errors import ConfigError
from fluxloop.llm.client import LLMClient
from fluxloop.llm.settings import llm_settings_from
from fluxloop.llm.text import MalformedOutput, parse_json_object
from fluxloop.project.config import ExperimentConfig, Persona

from .binding import RunContext, apply_template

if TYPE_CHECKING:
    from .engine import PlannedRun, RunExecutor, RunRecord
    from .progress import ProgressReporter

__all__ = [
    "DEFAULT_MAX_TURNS",
    "ConversationDriver",
    "Decision",
    "LLMSupervisor",
    "MultiTurnSettings",
    "ScriptSupervisor",
    "apply_overrides",
    "conversation_driver",
    "multi_turn_settings",
]

DEFAULT_MAX_TURNS = 8
SCRIPT_PROVIDERS = ("mock", "script", "scripted")
END_KEYS = ("conversation_ended", "end_conversation")
REPLY_KEYS = ("content", "output", "response", "reply", "message", "text")
MAX_BACKOFF_SECONDS = 60.0


# --------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class MultiTurnSettings:
    enabled: bool = False
    max_turns: int = DEFAULT_MAX_TURNS
    auto_approve_tools: bool = True
    persona_override: str | None = None
    goal_phrases: tuple[str, ...] = ()
    provider: str = "openai"
    script: tuple[str, ...] = ()
    mock_decision: str = "terminate"
    mock_reason: str = "script_complete"
    mock_closing: str | None = None
    mock_next_message: str | None = None
    system_prompt: str | None = None
    supervisor: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scripted(self) -> bool:
        return self.provider in SCRIPT_PROVIDERS

    def describe(self) -> str:
        kind = (
            f"script ({len(self.script)} follow-up turn(s))"
            if self.scripted
            else f"LLM {self.provider}/{self.supervisor.get('model') or 'default model'}"
        )
        persona = f", persona {self.persona_override}" if self.persona_override else ""
        return f"up to {self.max_turns} turns, simulated user: {kind}{persona}"


def _strs(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v is not None and str(v).strip())
    return (str(value),)


def multi_turn_settings(config: ExperimentConfig) -> MultiTurnSettings | None:
    """The ``multi_turn`` settings, or None when multi-turn is off."""
    raw = config.raw.get("multi_turn")
    if not isinstance(raw, Mapping) or not raw.get("enabled"):
        return None
    sup = raw.get("supervisor")
    supervisor: dict[str, Any] = dict(sup) if isinstance(sup, Mapping) else {}
    meta_raw = supervisor.get("metadata")
    meta: dict[str, Any] = dict(meta_raw) if isinstance(meta_raw, Mapping) else {}
    script = _strs(supervisor.get("script") or supervisor.get("scripted_questions")) or _strs(
        meta.get("scripted_questions")
    )
    provider = supervisor.get("provider")
    if not provider:
        provider = "script" if script or meta.get("mock_decision") else "openai"
    provider = str(provider).strip()
    if ":" not in provider:
        provider = provider.lower()
    max_turns = raw.get("max_turns")
    return MultiTurnSettings(
        enabled=True,
        max_turns=int(max_turns) if max_turns is not None else DEFAULT_MAX_TURNS,
        auto_approve_tools=raw.get("auto_approve_tools") is not False,
        persona_override=(raw.get("persona_override") or raw.get("persona") or None),
        goal_phrases=_strs(raw.get("goal_phrases")),
        provider=provider,
        script=script,
        mock_decision=str(meta.get("mock_decision") or "terminate").lower(),
        mock_reason=str(meta.get("mock_reason") or "script_complete"),
        mock_closing=str(meta["mock_closing"]) if meta.get("mock_closing") else None,
        mock_next_message=(
            str(meta["mock_next_user_message"]) if meta.get("mock_next_user_message") else None
        ),
        system_prompt=supervisor.get("system_prompt"),
        supervisor=supervisor,
    )


def apply_overrides(
    config: ExperimentConfig,
    *,
    enabled: bool | None = None,
    max_turns: int | None = None,
    auto_approve_tools: bool | None = None,
    persona_override: str | None = None,
    supervisor: Mapping[str, Any] | None = None,
) -> list[str]:
    """Command-line overrides (``--multi-turn/--no-multi-turn``, ``--max-turns``, and the
    original's ``--auto-approve-tools/--manual-approve-tools``, ``--persona-override``,
    ``--supervisor-provider/-model/-temperature/-api-key``), applied to the config so the
    snapshot in the experiment directory shows them (the API key masked). Returns warnings."""
    chosen = {k: v for k, v in (supervisor or {}).items() if v is not None}
    if (
        enabled is None
        and max_turns is None
        and auto_approve_tools is None
        and persona_override is None
        and not chosen
    ):
        return []
    section = config.raw.get("multi_turn")
    merged: dict[str, Any] = dict(section) if isinstance(section, Mapping) else {}
    if enabled is not None:
        merged["enabled"] = enabled
    if max_turns is not None:
        if max_turns < 1:
            raise ConfigError.for_value("--max-turns", "an integer >= 1", max_turns)
        merged["max_turns"] = max_turns
    if auto_approve_tools is not None:
        merged["auto_approve_tools"] = auto_approve_tools
    if persona_override is not None:
        known = [p.name for p in config.personas]
        if known and persona_override not in known:
            raise ConfigError(
                f"--persona-override: no persona {persona_override!r} (known: "
                + ", ".join(known)
                + ")",
                key="--persona-override",
            )
        merged["persona_override"] = persona_override
    if chosen:
        current = merged.get("supervisor")
        merged["supervisor"] = {**(dict(current) if isinstance(current, Mapping) else {}), **chosen}
    config.raw["multi_turn"] = merged
    if not merged.get("enabled"):
        return ["multi-turn options given but multi_turn.enabled is false; pass --multi-turn"]
    return []


# --------------------------------------------------------------------------------------------
# the simulated user


@dataclass
class Decision:
    action: str  # continue | terminate
    next_message: str | None = None
    reason: str | None = None
    detail: str | None = None
    closing_message: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.action}
        for key, value in (
            ("next_user_message", self.next_message),
            ("termination_reason", self.reason),
            ("termination_detail", self.detail),
            ("closing_user_message", self.closing_message),
        ):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class ConversationView:
    """What the simulated user sees after an agent reply."""

    turns: Sequence[Mapping[str, str]]
    turn: int
    max_turns: int
    persona: Persona | None
    service_context: str | None


class Supervisor(Protocol):
    kind: str

    async def decide(self, view: ConversationView) -> Decision: ...

    def usage(self) -> dict[str, int]: ...


class ScriptSupervisor:
    """The original's ``mock`` supervisor: scripted follow-ups, then stop (or continue)."""

    kind = "script"

    def __init__(self, settings: MultiTurnSettings) -> None:
        self.settings = settings

    async def decide(self, view: ConversationView) -> Decision:
        s = self.settings
        sent = sum(1 for t in view.turns if t.get("role") == "user") - 1
        if sent < len(s.script):
            return Decision("continue", next_message=s.script[sent])
        if s.mock_decision == "continue" and s.mock_next_message:
            return Decision("continue", next_message=s.mock_next_message)
        return Decision("terminate", reason=s.mock_reason, closing_message=s.mock_closing)

    def usage(self) -> dict[str, int]:
        return {}


DEFAULT_SUPERVISOR_PROMPT = """\
You play a user of an AI assistant in a test conversation. Stay in character as the persona \
below and write as that person would (tone, vocabulary, expertise, language). Pursue the \
persona's goals one at a time; do not help the assistant and never reveal that this is a test.

{persona}
{service_context}
After each assistant reply, decide what the user does next:
- continue: write the user's next message (a follow-up, a clarification, the next goal, or a \
complaint when the reply was wrong or unhelpful);
- terminate with "goal_met": true when the persona's goals are achieved;
- terminate with "goal_met": false when the assistant cannot help or the conversation goes \
nowhere (say why in termination_reason).
{extra}
Reply with JSON only:
{{"decision": "continue" | "terminate", "next_user_message": "...", "goal_met": true | false, \
"termination_reason": "...", "closing_user_message": "..."}}"""

_GOAL_WORDS = re.compile(r"goal|satisf|resolv|complet|success|achiev|done", re.IGNORECASE)


def _decision_from(content: str) -> Decision:
    try:
        data = parse_json_object(content)
    except MalformedOutput:
        text = content.strip()
        if text and not text.startswith(("{", "[")):
            return Decision("continue", next_message=text.strip("\"' "))
        raise
    action = str(data.get("decision") or data.get("action") or "").strip().lower()
    message = next(
        (
            str(data[k]).strip()
            for k in ("next_user_message", "next_message", "user_message", "message")
            if isinstance(data.get(k), str) and data[k].strip()
        ),
        None,
    )
    if action in ("continue", "proceed", "next") or (not action and message):
        if not message:
            raise MalformedOutput("decision 'continue' without next_user_message")
        return Decision("continue", next_message=message)
    if action in ("terminate", "stop", "end", "done", "finish"):
        detail = data.get("termination_reason") or data.get("reason")
        goal = data.get("goal_met")
        met = goal is True or (
            goal is None and bool(detail) and bool(_GOAL_WORDS.search(str(detail)))
        )
        closing = data.get("closing_user_message")
        return Decision(
            "terminate",
            reason="goal_met" if met else "supervisor_stop",
            detail=str(detail) if detail else None,
            closing_message=str(closing).strip()
            if isinstance(closing, str) and closing.strip()
            else None,
        )
    raise MalformedOutput(f"expected decision continue or terminate, found {action!r}")


class LLMSupervisor:
    """A simulated user played by a chat model (through the one LLM client, fluxloop.llm)."""

    kind = "llm"

    def __init__(self, settings: MultiTurnSettings, config: ExperimentConfig) -> None:
        sup = dict(settings.supervisor)
        sup["provider"] = settings.provider
        llm = llm_settings_from(
            {k: v for k, v in sup.items() if k not in ("metadata", "system_prompt", "script")},
            dotenv=config.dotenv,
            search_paths=[
                config.project_dir,
                config.runner.working_directory,
                *config.runner.python_path,
            ],
            defaults={"temperature": 0.2},
        )
        self.settings = settings
        self.label = llm.label
        self.client = LLMClient.for_settings(
            llm,
            where="multi_turn.supervisor",
            role="simulated user",
            offline_hint="use a scripted supervisor (provider: mock)",
        )
        _ = self.client.model  # a missing key or package is a config error, up front

    def _system(self, view: ConversationView) -> str:
        persona = view.persona.to_prompt() if view.persona else "Persona: a typical user"
        service = f"Service context: {view.service_context}\n" if view.service_context else ""
        extra = (
            f"\nAdditional instructions:\n{self.settings.system_prompt}\n"
            if (self.settings.system_prompt)
            else ""
        )
        return DEFAULT_SUPERVISOR_PROMPT.format(
            persona=persona, service_context=service, extra=extra
        )

    @staticmethod
    def _transcript(view: ConversationView) -> str:
        lines = [f"Conversation so far (after turn {view.turn} of at most {view.max_turns}):"]
        for turn in view.turns:
            who = "USER" if turn.get("role") == "user" else "ASSISTANT"
            lines.append(f"{who}: {turn.get('content')}")
        lines.append("What does the user do next? Reply with the JSON decision only.")
        return "\n".join(lines)

    async def decide(self, view: ConversationView) -> Decision:
        completion = await self.client.complete(
            [("system", self._system(view)), ("human", self._transcript(view))],
            _decision_from,
            purpose="supervisor",
            use_cache=False,
            repair='Reply with JSON only: {"decision": "continue" | "terminate", ...}.',
        )
        decision = completion.value
        decision.usage = dict(completion.usage)
        return decision

    def usage(self) -> dict[str, int]:
        return self.client.meter.as_dict()


def make_supervisor(settings: MultiTurnSettings, config: ExperimentConfig) -> Supervisor:
    if settings.scripted:
        return ScriptSupervisor(settings)
    return LLMSupervisor(settings, config)


# --------------------------------------------------------------------------------------------
# the conversation loop


class SimulatorError(Exception):
    """The simulated user could not produce its next step."""


def _reply_text(value: Any, limit: int | None) -> str:
    from .engine import coerce_output

    if isinstance(value, Mapping):
        for key in REPLY_KEYS:
            if isinstance(value.get(key), str):
                return str(value[key])
    return coerce_output(value, limit) or ""


def _ended(value: Any) -> bool:
    return isinstance(value, Mapping) and any(value.get(k) is True for k in END_KEYS)


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _hex_span_id() -> str | None:
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.span_id:016x}" if ctx.is_valid else None


def _set_attribute(key: str, value: Any) -> None:
    from opentelemetry import trace

    with contextlib.suppress(Exception):
        trace.get_current_span().set_attribute(key, value)


@dataclass
class _Stats:
    conversations: int = 0
    turns: int = 0
    max_seen: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    agent_tokens: int = 0
    remote_usage: Counter[str] = field(default_factory=Counter)  # simulated users elsewhere


class ConversationDriver:
    """Runs one planned input as a conversation (plugged into the engine's RunExecutor)."""

    def __init__(
        self, executor: RunExecutor, settings: MultiTurnSettings, supervisor: Supervisor
    ) -> None:
        self.ex = executor
        self.settings = settings
        self.supervisor = supervisor
        self.config = executor.config
        self.stats = _Stats()
        self.reporter: ProgressReporter | None = None
        self.report_interval = 5.0
        self._last_report = time.monotonic()
        service = self.config.metadata.get("service_context")
        self.service_context = str(service).strip() if service else None

    # -- summary and live accounting -----------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        st = self.stats
        return {
            "enabled": True,
            "max_turns": self.settings.max_turns,
            "supervisor": self.supervisor.kind
            if self.supervisor.kind == "script"
            else getattr(self.supervisor, "label", self.supervisor.kind),
            "conversations": st.conversations,
            "turns": st.turns,
            "avg_turns": round(st.turns / st.conversations, 3) if st.conversations else 0.0,
            "max_turns_seen": st.max_seen,
            "termination_reasons": dict(st.reasons),
            "agent_tokens": st.agent_tokens,
            "simulator_usage": _add_usage(self.supervisor.usage(), st.remote_usage),
        }

    def _tick(self) -> None:
        now = time.monotonic()
        if self.reporter is not None and now - self._last_report >= self.report_interval:
            self._last_report = now
            self.reporter.conversations(self.summary())

    # -- one agent turn --------------------------------------------------------------------------

    async def _call_agent(
        self,
        ctx: RunContext,
        messages: list[dict[str, Any]],
        state: dict[str, Any],
        planned: PlannedRun,
        attempt_errors: list[dict[str, Any]],
    ) -> tuple[Any, Any, int]:
        from .engine import CallbackReportedError, _attempt_error, aggregate_chunks

        ex = self.ex
        item = planned.item
        attempt = 0
        while True:
            attempt += 1
            collector = None
            base: Mapping[str, Any] | None = None
            if ex.replay is not None:
                base, collector = ex.replay.build(
                    ctx.input, item.metadata, iteration=planned.iteration, input_index=item.index
                )
                args, kwargs = ex.binder.bind(ctx, base_kwargs=base)
            else:
                args, kwargs = ex.binder.bind(ctx)
            for name, kind in ex.binder.injections:
                if base is not None and name in base:
                    continue
                if kind == "messages":
                    kwargs[name] = [dict(m) for m in messages]
                elif kind == "state":
                    kwargs[name] = state
                elif kind == "state_metadata":
                    kwargs[name] = state["metadata"]
            t0 = time.perf_counter()
            try:
                value = await ex._invoke(args, kwargs)
                if collector is not None:
                    if not collector.send and not collector.error:
                        for _ in range(3):  # let callbacks scheduled by the target run
                            await asyncio.sleep(0)
                    if (
                        collector.error
                        and ex.replay is not None
                        and ex.replay.error_callback_fails_run
                    ):
                        raise CallbackReportedError(collector.error[0])
                    sent = collector.messages()
                    if value is None and sent:
                        value = (
                            sent[0] if len(sent) == 1 else aggregate_chunks(sent, ex.stream_path)
                        )
                return value, collector, attempt
            except (Exception, SystemExit) as exc:
                timed_out = type(exc).__name__ == "_Timeout"
                if attempt > ex.max_retries or ex.is_stopping():
                    raise
                status = "timeout" if timed_out else "error"
                duration = (time.perf_counter() - t0) * 1000.0
                attempt_errors.append(_attempt_error(attempt, status, exc, duration))
                delay = min(ex.retry_delay * (2 ** (attempt - 1)), MAX_BACKOFF_SECONDS)
                if delay > 0:
                    await asyncio.sleep(delay)

    # -- one conversation ------------------------------------------------------------------------

    async def execute(self, planned: PlannedRun) -> RunRecord:
        import fluxloop

        from .tracing import start_capture

        ex = self.ex
        s = self.settings
        item = planned.item
        persona_name = s.persona_override or item.persona
        persona = self.config.persona(persona_name)
        first = apply_template(self.config.input_template, item.input, persona)
        run_id = uuid.uuid4().hex
        attrs: dict[str, Any] = {
            attr.FLUXLOOP_EXPERIMENT_ID: ex.experiment_id,
            attr.FLUXLOOP_EXPERIMENT_NAME: ex.experiment_name,
            attr.FLUXLOOP_RUN_ID: run_id,
            attr.FLUXLOOP_RUN_ITERATION: planned.iteration,
            attr.FLUXLOOP_RUN_INPUT_INDEX: item.index,
            attr.FLUXLOOP_RUN_ATTEMPT: 1,
        }
        if persona_name is not None:
            attrs[attr.FLUXLOOP_RUN_PERSONA] = persona_name
        messages: list[dict[str, Any]] = []
        conversation: list[dict[str, Any]] = []
        context: dict[str, Any] = {}
        meta = {
            "conversation_id": run_id,
            "iteration": planned.iteration,
            "persona": persona_name,
            "persona_description": persona.description if persona else None,
            "service_context": self.service_context,
            "variation": dict(item.metadata),
            "auto_approve_tools": s.auto_approve_tools,
            "max_turns": s.max_turns,
            "turn": 0,
        }
        state: dict[str, Any] = {"turns": messages, "metadata": meta, "context": context}
        status, error = "success", None
        termination: str | None = None
        detail: str | None = None
        last_value: Any = None
        last_collector: Any = None
        agent_calls = 0
        attempt_errors: list[dict[str, Any]] = []
        turn_spans: list[str | None] = []
        sim_usage: Counter[str] = Counter()
        sim_calls = 0
        decisions: list[dict[str, Any]] = []
        user_message: Any = first
        source = "input"
        turn = 0
        started = time.time()
        t0 = time.perf_counter()
        with start_capture(attrs) as cap:
            with fluxloop.instrument(
                f"conversation {ex.target.display_name}",
                session_id=run_id,
                metadata={"multi_turn": True, "max_turns": s.max_turns},
            ):
                _set_attribute(attr.GEN_AI_CONVERSATION_ID, run_id)
                while turn < s.max_turns:
                    turn += 1
                    meta["turn"] = turn
                    messages.append({"role": "user", "content": user_message})
                    conversation.append(
                        {
                            "turn_index": turn,
                            "role": "user",
                            "content": user_message,
                            "source": source,
                            "metadata": {"persona": persona_name},
                        }
                    )
                    with fluxloop.instrument(f"turn {turn}"):
                        _set_attribute(attr.FLUXLOOP_CONVERSATION_TURN, turn - 1)
                        _set_attribute(attr.GEN_AI_CONVERSATION_ID, run_id)
                        turn_spans.append(_hex_span_id())
                        ctx = RunContext(
                            input=user_message,
                            iteration=planned.iteration,
                            persona=persona,
                            persona_name=persona_name,
                            input_index=item.index,
                            metadata=item.metadata,
                            run_id=run_id,
                            experiment=ex.experiment_name,
                            auto_approve=s.auto_approve_tools,
                        )
                        try:
                            value, last_collector, calls = await self._call_agent(
                                ctx, messages, state, planned, attempt_errors
                            )
                            agent_calls += calls
                        except (Exception, SystemExit) as exc:
                            agent_calls += ex.max_retries + 1
                            timed_out = type(exc).__name__ == "_Timeout"
                            status, error = ("timeout" if timed_out else "error"), exc
                            termination = "error"
                            break
                        last_value = value
                        reply = _reply_text(value, ex.output_limit)
                        messages.append({"role": "assistant", "content": reply})
                        conversation.append(
                            {
                                "turn_index": turn,
                                "role": "assistant",
                                "content": reply,
                                "source": "agent",
                                "metadata": {},
                            }
                        )
                        lowered = reply.lower()
                        if any(p.lower() in lowered for p in s.goal_phrases):
                            termination = "goal_met"
                            detail = "the agent's reply matched a goal phrase"
                            break
                        if _ended(value):
                            termination = "agent_stop"
                            break
                        if turn >= s.max_turns:
                            termination = "max_turns_reached"
                            break
                        view = ConversationView(
                            turns=[dict(m) for m in messages],
                            turn=turn,
                            max_turns=s.max_turns,
                            persona=persona,
                            service_context=self.service_context,
                        )
                        try:
                            decision = await self._decide(view)
                        except Exception as exc:
                            status = "error"
                            error = SimulatorError(f"simulated user failed: {exc}")
                            termination = "supervisor_error"
                            break
                        sim_calls += 0 if self.supervisor.kind == "script" else 1
                        sim_usage.update(decision.usage)
                        decisions.append({"turn": turn, **decision.as_dict()})
                        if decision.action == "terminate":
                            termination = decision.reason or "supervisor_stop"
                            detail = decision.detail
                            if decision.closing_message:
                                messages.append(
                                    {
                                        "role": "user",
                                        "content": decision.closing_message,
                                        "closing": True,
                                    }
                                )
                                conversation.append(
                                    {
                                        "turn_index": turn + 1,
                                        "role": "user",
                                        "content": decision.closing_message,
                                        "source": "supervisor",
                                        "metadata": {"persona": persona_name, "closing": True},
                                    }
                                )
                            break
                        user_message = decision.next_message or ""
                        source = "supervisor"
            duration_ms = (time.perf_counter() - t0) * 1000.0
        ended = started + duration_ms / 1000.0
        record = ex._record(
            planned,
            run_id,
            first,
            status,
            last_value,
            error,
            duration_ms,
            started,
            ended,
            1 + len(attempt_errors),
            attempt_errors,
            cap,
            last_collector,
        )
        turns_done = sum(1 for c in conversation if c["role"] == "assistant")
        self._finish(record, conversation, turn_spans, state, termination, detail, turns_done)
        line = record.line
        line["multi_turn"]["agent_calls"] = agent_calls
        line["simulation"] = {
            "supervisor": self.supervisor.kind,
            "calls": sim_calls,
            "token_usage": {
                "prompt_tokens": sim_usage.get("prompt_tokens", 0),
                "completion_tokens": sim_usage.get("completion_tokens", 0),
                "total_tokens": sim_usage.get("total_tokens", 0),
            },
            "decisions": decisions,
        }
        if persona_name != item.persona:
            line["persona"] = persona_name
        self.account(line)
        return record

    def account(self, line: Mapping[str, Any], *, remote: bool = False) -> None:
        """Count a finished conversation in the live stats and the summary.

        ``remote``: it ran in another process (another executor), whose simulated user's usage
        this process's supervisor never saw: the line's ``simulation`` counts it.
        """
        st = self.stats
        turns_done = int(line.get("turn_count") or 0)
        st.conversations += 1
        st.turns += turns_done
        st.max_seen = max(st.max_seen, turns_done)
        st.reasons[str(line.get("termination_reason") or "unknown")] += 1
        usage = line.get("token_usage") or {}
        st.agent_tokens += int(usage.get("total_tokens") or 0)
        simulation = line.get("simulation")
        if remote and isinstance(simulation, Mapping) and simulation.get("calls"):
            st.remote_usage["calls"] += int(simulation.get("calls") or 0)
            for key, value in (simulation.get("token_usage") or {}).items():
                st.remote_usage[key] += int(value or 0)
        self._tick()

    async def _decide(self, view: ConversationView) -> Decision:
        import fluxloop

        @fluxloop.trace(name="simulated_user", capture_input=False)
        async def simulated_user(turn: int) -> dict[str, Any]:
            decision = await self.supervisor.decide(view)
            holder.append(decision)
            return decision.as_dict()

        holder: list[Decision] = []
        await simulated_user(view.turn)
        return holder[0]

    def _finish(
        self,
        record: RunRecord,
        conversation: list[dict[str, Any]],
        turn_spans: list[str | None],
        state: dict[str, Any],
        termination: str | None,
        detail: str | None,
        turns_done: int,
    ) -> None:
        # the actions of each turn: the observations under its span (not the simulated user)
        parents = {o.get("id"): o.get("parent_observation_id") for o in record.observations}
        names = {o.get("id"): o for o in record.observations}
        by_turn: dict[str, list[dict[str, Any]]] = {sid: [] for sid in turn_spans if sid}
        for obs in record.observations:
            node = obs.get("parent_observation_id")
            skip = obs.get("name") == "simulated_user"
            while node is not None and not skip:
                if node in by_turn:
                    by_turn[node].append(obs)
                    break
                parent = names.get(node)
                if parent is not None and parent.get("name") == "simulated_user":
                    break
                node = parents.get(node)
        for entry in conversation:
            if entry["role"] != "assistant":
                continue
            index = int(entry["turn_index"]) - 1
            sid = turn_spans[index] if index < len(turn_spans) else None
            observed = sorted(by_turn.get(sid or "", []), key=lambda o: str(o.get("start_time")))
            entry["metadata"]["actions"] = [f"{o.get('type')}:{o.get('name')}" for o in observed]
        line = record.line
        line["conversation"] = _jsonable(conversation)
        line["conversation_state"] = _jsonable(
            {"turns": state["turns"], "metadata": state["metadata"], "context": state["context"]}
        )
        line["termination_reason"] = termination
        if detail:
            line["termination_detail"] = detail
        line["turn_count"] = turns_done
        line["multi_turn"] = {
            "enabled": True,
            "turn_count": turns_done,
            "termination_reason": termination,
            "max_turns": self.settings.max_turns,
        }
        for trace in record.traces:
            md = trace.get("metadata")
            if isinstance(md, dict):
                md.setdefault("multi_turn", True)
                md.setdefault("turn_count", turns_done)
                md.setdefault("termination_reason", termination)


def _add_usage(local: Mapping[str, int], remote: Mapping[str, int]) -> dict[str, int]:
    total = dict(local)
    for key, value in remote.items():
        total[key] = total.get(key, 0) + value
    return total


def conversation_driver(executor: RunExecutor) -> ConversationDriver | None:
    """The driver for ``executor``'s config, or None when multi-turn is off."""
    settings = multi_turn_settings(executor.config)
    if settings is None:
        return None
    return ConversationDriver(executor, settings, make_supervisor(settings, executor.config))
