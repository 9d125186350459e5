"""The simulated user played by a chat model (``multi_turn.supervisor.provider``: an LLM).

It implements the runner's ``SimulatedUser`` protocol
(:mod:`fluxloop.runner.strategies.simulated_user`) by shape, so this module imports nothing from
the runner: whoever starts an experiment passes :class:`LLMSimulatedUser` in
(``run_experiment(..., simulated_users=LLMSimulatedUser)``; the CLI and the pytest plugin do).

The model role-plays the run's persona (its description, characteristics, goals and
constraints, plus ``metadata.service_context``) and pursues its goals one by one; after every
agent reply it answers with a JSON decision (continue with a next message, or terminate: goal
met or not). Calls go through the one LLM client (:mod:`fluxloop.llm`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fluxloop.llm.client import LLMClient
from fluxloop.llm.settings import llm_settings_from
from fluxloop.llm.text import MalformedOutput, parse_json_object
from fluxloop.project.config import ExperimentConfig, Persona

__all__ = ["DEFAULT_SUPERVISOR_PROMPT", "Decision", "LLMSimulatedUser", "parse_decision"]

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


class TranscriptView(Protocol):
    """What the simulated user is shown (the runner's ``ConversationView``)."""

    @property
    def turns(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def turn(self) -> int: ...

    @property
    def max_turns(self) -> int: ...

    @property
    def persona(self) -> Persona | None: ...

    @property
    def service_context(self) -> str | None: ...


@dataclass
class Decision:
    """The model's decision (the runner's ``UserDecision``)."""

    action: str  # continue | terminate
    next_message: str | None = None
    reason: str | None = None
    detail: str | None = None
    closing_message: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)


def parse_decision(content: str) -> Decision:
    """The decision in a model's reply (JSON, maybe fenced; plain text is a next message)."""
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


class LLMSimulatedUser:
    """A simulated user played by a chat model (through the one LLM client, fluxloop.llm)."""

    kind = "llm"

    def __init__(self, supervisor: Mapping[str, Any], config: ExperimentConfig) -> None:
        """``supervisor``: the ``multi_turn.supervisor`` section (``provider`` normalised).

        Raises ConfigError when the model cannot be made (a missing key or package)."""
        llm = llm_settings_from(
            {
                k: v
                for k, v in supervisor.items()
                if k not in ("metadata", "system_prompt", "script")
            },
            dotenv=config.dotenv,
            search_paths=[
                config.project_dir,
                config.runner.working_directory,
                *config.runner.python_path,
            ],
            defaults={"temperature": 0.2},
        )
        prompt = supervisor.get("system_prompt")
        self.system_prompt = str(prompt) if prompt else None
        self.label = llm.label
        self.client = LLMClient.for_settings(
            llm,
            where="multi_turn.supervisor",
            role="simulated user",
            offline_hint="use a scripted supervisor (provider: mock)",
        )
        _ = self.client.model  # a missing key or package is a config error, up front

    def _system(self, view: TranscriptView) -> str:
        persona = view.persona.to_prompt() if view.persona else "Persona: a typical user"
        service = f"Service context: {view.service_context}\n" if view.service_context else ""
        extra = f"\nAdditional instructions:\n{self.system_prompt}\n" if self.system_prompt else ""
        return DEFAULT_SUPERVISOR_PROMPT.format(
            persona=persona, service_context=service, extra=extra
        )

    @staticmethod
    def _transcript(view: TranscriptView) -> str:
        lines = [f"Conversation so far (after turn {view.turn} of at most {view.max_turns}):"]
        for turn in view.turns:
            who = "USER" if turn.get("role") == "user" else "ASSISTANT"
            lines.append(f"{who}: {turn.get('content')}")
        lines.append("What does the user do next? Reply with the JSON decision only.")
        return "\n".join(lines)

    async def decide(self, view: TranscriptView) -> Decision:
        """The model's next step for the conversation in ``view``."""
        completion = await self.client.complete(
            [("system", self._system(view)), ("human", self._transcript(view))],
            parse_decision,
            purpose="supervisor",
            use_cache=False,
            repair='Reply with JSON only: {"decision": "continue" | "terminate", ...}.',
        )
        decision = completion.value
        decision.usage = dict(completion.usage)
        return decision

    def usage(self) -> dict[str, int]:
        """Calls and tokens so far."""
        return self.client.meter.as_dict()
