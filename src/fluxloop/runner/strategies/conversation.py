"""The conversation strategy: each planned input starts a conversation with a simulated user.

Every agent turn is one call of the target through the experiment's one attempt loop (its
timeout and retries, each failed attempt in ``attempt_errors``); after every reply the
:class:`~fluxloop.runner.strategies.simulated_user.SimulatedUser` continues or stops. The
settings, binding, termination reasons, tracing and the record's fields are described in
:mod:`fluxloop.runner.multiturn`.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry import trace

import fluxloop
from fluxloop.runner.attempts import Attempts
from fluxloop.runner.binding import RunContext, apply_template
from fluxloop.runner.multiturn import END_KEYS, REPLY_KEYS, MultiTurnSettings
from fluxloop.runner.output import coerce_output
from fluxloop.runner.records import PlannedRun, RunRecord
from fluxloop.runner.replay import CallbackCollector
from fluxloop.runner.run_records import RunResult
from fluxloop.runner.tracing import start_capture

from .base import RunServices, RunStrategy
from .simulated_user import ConversationView, SimulatedUser, UserDecision, decision_dict

__all__ = ["Conversation", "SimulatorError"]


class SimulatorError(Exception):
    """The simulated user could not produce its next step."""


def _reply_text(value: Any, limit: int | None) -> str:
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
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.span_id:016x}" if ctx.is_valid else None


def _set_attribute(key: str, value: Any) -> None:
    with contextlib.suppress(Exception):
        trace.get_current_span().set_attribute(key, value)


def _add_usage(local: Mapping[str, int], remote: Mapping[str, int]) -> dict[str, int]:
    total = dict(local)
    for key, value in remote.items():
        total[key] = total.get(key, 0) + value
    return total


@dataclass
class _Stats:
    conversations: int = 0
    turns: int = 0
    max_seen: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    agent_tokens: int = 0
    remote_usage: Counter[str] = field(default_factory=Counter)  # simulated users elsewhere


@dataclass
class _Talk:
    """One conversation in progress."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    conversation: list[dict[str, Any]] = field(default_factory=list)
    turn_spans: list[str | None] = field(default_factory=list)
    attempt_errors: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    sim_usage: Counter[str] = field(default_factory=Counter)
    sim_calls: int = 0
    agent_calls: int = 0
    error: BaseException | None = None
    termination: str | None = None
    detail: str | None = None
    last_value: Any = None
    last_collector: CallbackCollector | None = None


class Conversation(RunStrategy):
    """Runs each planned input as a conversation with a simulated user."""

    name = "conversation"

    def __init__(
        self, services: RunServices, settings: MultiTurnSettings, user: SimulatedUser
    ) -> None:
        self.services = services
        self.settings = settings
        self.user = user
        self.config = services.config
        self.stats = _Stats()
        self.report_interval = 5.0
        self._last_report = time.monotonic()
        service = self.config.metadata.get("service_context")
        self.service_context = str(service).strip() if service else None

    # -- summary and live accounting -----------------------------------------------------------

    def summary(self) -> Mapping[str, Any]:
        return {"multi_turn": self.multi_turn_summary()}

    def multi_turn_summary(self) -> dict[str, Any]:
        st = self.stats
        return {
            "enabled": True,
            "max_turns": self.settings.max_turns,
            "supervisor": self.user.label,
            "conversations": st.conversations,
            "turns": st.turns,
            "avg_turns": round(st.turns / st.conversations, 3) if st.conversations else 0.0,
            "max_turns_seen": st.max_seen,
            "termination_reasons": dict(st.reasons),
            "agent_tokens": st.agent_tokens,
            "simulator_usage": _add_usage(dict(self.user.usage()), st.remote_usage),
        }

    def describe(self) -> str | None:
        return self.settings.describe()

    def account(self, line: Mapping[str, Any]) -> None:
        self._count(line, remote=True)

    def _count(self, line: Mapping[str, Any], *, remote: bool) -> None:
        """Count a finished conversation in the live stats and the summary.

        ``remote``: it ran in another process, whose simulated user's usage this process's
        never saw: the line's ``simulation`` counts it.
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
        now = time.monotonic()
        if now - self._last_report >= self.report_interval:
            self._last_report = now
            self.services.reporter.conversations(self.multi_turn_summary())

    # -- one conversation ------------------------------------------------------------------------

    async def execute(self, planned: PlannedRun) -> RunRecord:
        sv = self.services
        s = self.settings
        item = planned.item
        persona_name = s.persona_override or item.persona
        persona = self.config.persona(persona_name)
        first = apply_template(self.config.input_template, item.input, persona)
        run_id = uuid.uuid4().hex
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
        talk = _Talk()
        state: dict[str, Any] = {"turns": talk.messages, "metadata": meta, "context": {}}
        started = time.time()
        t0 = time.perf_counter()
        with start_capture(sv.attributes(run_id, planned, persona_name, 1)) as cap:
            with fluxloop.instrument(
                f"conversation {sv.target_name}",
                session_id=run_id,
                metadata={"multi_turn": True, "max_turns": s.max_turns},
            ):
                _set_attribute(attr.GEN_AI_CONVERSATION_ID, run_id)
                await self._talk(talk, planned, run_id, first, persona_name, state)
            duration_ms = (time.perf_counter() - t0) * 1000.0
        record = sv.records.build(
            RunResult(
                planned=planned,
                run_id=run_id,
                input=first,
                value=talk.last_value,
                error=talk.error,
                started=started,
                duration_ms=duration_ms,
                attempts=1 + len(talk.attempt_errors),
                attempt_errors=talk.attempt_errors,
                spans=cap.spans,
                collector=talk.last_collector,
            )
        )
        self._finish(record, talk, state)
        line = record.line
        line["simulation"] = {
            "supervisor": self.user.kind,
            "calls": talk.sim_calls,
            "token_usage": {
                "prompt_tokens": talk.sim_usage.get("prompt_tokens", 0),
                "completion_tokens": talk.sim_usage.get("completion_tokens", 0),
                "total_tokens": talk.sim_usage.get("total_tokens", 0),
            },
            "decisions": talk.decisions,
        }
        if persona_name != item.persona:
            line["persona"] = persona_name
        self._count(line, remote=False)
        return record

    async def _talk(
        self,
        talk: _Talk,
        planned: PlannedRun,
        run_id: str,
        first: Any,
        persona_name: str | None,
        state: dict[str, Any],
    ) -> None:
        """The turns of one conversation, until a termination reason is set."""
        sv = self.services
        s = self.settings
        persona = self.config.persona(persona_name)
        user_message: Any = first
        source = "input"
        turn = 0
        while turn < s.max_turns:
            turn += 1
            state["metadata"]["turn"] = turn
            talk.messages.append({"role": "user", "content": user_message})
            talk.conversation.append(
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
                talk.turn_spans.append(_hex_span_id())
                ctx = sv.context(
                    planned,
                    user_message,
                    run_id,
                    persona_name=persona_name,
                    persona=persona,
                    auto_approve=s.auto_approve_tools,
                )
                tried, collectors = await self._call_agent(ctx, planned, talk, state)
                talk.agent_calls += tried.count
                talk.attempt_errors.extend(tried.errors())
                if not tried.last.ok:
                    talk.error = tried.last.error
                    talk.termination = "error"
                    return
                value = tried.last.value
                talk.last_value, talk.last_collector = value, collectors[-1]
                reply = _reply_text(value, sv.records.output_limit)
                talk.messages.append({"role": "assistant", "content": reply})
                talk.conversation.append(
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
                    talk.termination = "goal_met"
                    talk.detail = "the agent's reply matched a goal phrase"
                    return
                if _ended(value):
                    talk.termination = "agent_stop"
                    return
                if turn >= s.max_turns:
                    talk.termination = "max_turns_reached"
                    return
                view = ConversationView(
                    turns=[dict(m) for m in talk.messages],
                    turn=turn,
                    max_turns=s.max_turns,
                    persona=persona,
                    service_context=self.service_context,
                )
                try:
                    decision = await self._decide(view)
                except Exception as exc:
                    talk.error = SimulatorError(f"simulated user failed: {exc}")
                    talk.termination = "supervisor_error"
                    return
                talk.sim_calls += 0 if self.user.kind == "script" else 1
                talk.sim_usage.update(decision.usage)
                talk.decisions.append({"turn": turn, **decision_dict(decision)})
                if decision.action == "terminate":
                    talk.termination = decision.reason or "supervisor_stop"
                    talk.detail = decision.detail
                    if decision.closing_message:
                        talk.messages.append(
                            {"role": "user", "content": decision.closing_message, "closing": True}
                        )
                        talk.conversation.append(
                            {
                                "turn_index": turn + 1,
                                "role": "user",
                                "content": decision.closing_message,
                                "source": "supervisor",
                                "metadata": {"persona": persona_name, "closing": True},
                            }
                        )
                    return
                user_message = decision.next_message or ""
                source = "supervisor"

    async def _call_agent(
        self, ctx: RunContext, planned: PlannedRun, talk: _Talk, state: dict[str, Any]
    ) -> tuple[Attempts[Any], list[CallbackCollector | None]]:
        """One agent turn through the attempt loop (each attempt's replay collector too)."""
        caller = self.services.caller
        collectors: list[CallbackCollector | None] = []

        async def attempt(number: int) -> Any:
            injected = {
                "messages": [dict(m) for m in talk.messages],
                "state": state,
                "state_metadata": state["metadata"],
            }
            bound = caller.bind(ctx, planned, injected)
            collectors.append(bound.collector)
            return await caller.call(bound)

        return await self.services.attempts.run(attempt), collectors

    async def _decide(self, view: ConversationView) -> UserDecision:
        @fluxloop.trace(name="simulated_user", capture_input=False)
        async def simulated_user(turn: int) -> dict[str, Any]:
            decision = await self.user.decide(view)
            holder.append(decision)
            return decision_dict(decision)

        holder: list[UserDecision] = []
        await simulated_user(view.turn)
        return holder[0]

    def _finish(self, record: RunRecord, talk: _Talk, state: dict[str, Any]) -> None:
        turns_done = sum(1 for c in talk.conversation if c["role"] == "assistant")
        termination = talk.termination
        # the actions of each turn: the observations under its span (not the simulated user)
        parents = {o.get("id"): o.get("parent_observation_id") for o in record.observations}
        names = {o.get("id"): o for o in record.observations}
        by_turn: dict[str, list[dict[str, Any]]] = {sid: [] for sid in talk.turn_spans if sid}
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
        for entry in talk.conversation:
            if entry["role"] != "assistant":
                continue
            index = int(entry["turn_index"]) - 1
            sid = talk.turn_spans[index] if index < len(talk.turn_spans) else None
            observed = sorted(by_turn.get(sid or "", []), key=lambda o: str(o.get("start_time")))
            entry["metadata"]["actions"] = [f"{o.get('type')}:{o.get('name')}" for o in observed]
        line = record.line
        line["conversation"] = _jsonable(talk.conversation)
        line["conversation_state"] = _jsonable(
            {"turns": state["turns"], "metadata": state["metadata"], "context": state["context"]}
        )
        line["termination_reason"] = termination
        if talk.detail:
            line["termination_detail"] = talk.detail
        line["turn_count"] = turns_done
        line["multi_turn"] = {
            "enabled": True,
            "turn_count": turns_done,
            "termination_reason": termination,
            "max_turns": self.settings.max_turns,
            "agent_calls": talk.agent_calls,
        }
        for tr in record.traces:
            md = tr.get("metadata")
            if isinstance(md, dict):
                md.setdefault("multi_turn", True)
                md.setdefault("turn_count", turns_done)
                md.setdefault("termination_reason", termination)
