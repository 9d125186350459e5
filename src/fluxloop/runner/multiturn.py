"""Multi-turn runs: the target holds a whole conversation with a simulated user (settings).

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

The conversations themselves run in :mod:`fluxloop.runner.strategies.conversation`; the
simulated user is reached through :mod:`fluxloop.runner.strategies.simulated_user` (the LLM one
lives in :mod:`fluxloop.generation.simulated_user`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fluxloop.errors import ConfigError
from fluxloop.project.config import ExperimentConfig

__all__ = [
    "DEFAULT_MAX_TURNS",
    "END_KEYS",
    "REPLY_KEYS",
    "MultiTurnSettings",
    "apply_overrides",
    "multi_turn_settings",
]

DEFAULT_MAX_TURNS = 8
SCRIPT_PROVIDERS = ("mock", "script", "scripted")
END_KEYS = ("conversation_ended", "end_conversation")
REPLY_KEYS = ("content", "output", "response", "reply", "message", "text")


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
