"""The simulated user of a conversation: the protocol the runner talks to, and the scripted one.

After every agent reply the conversation strategy shows the simulated user a
:class:`ConversationView` and gets back a decision (:class:`UserDecision`): continue with a
next message, or terminate (with a reason and maybe a closing message).

The runner ships the scripted user (``provider: mock | script``: follow-up turns from the
config, no model). A user played by a language model lives in
:mod:`fluxloop.generation.simulated_user` (it needs the LLM client); whoever starts the
experiment passes its factory in (``run_experiment(..., simulated_users=...)``; the CLI and the
pytest plugin do), so the runner never imports it. Any object with this shape works: a custom
simulated user is a class with ``kind``, ``label``, ``decide`` and ``usage``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fluxloop.errors import ConfigError
from fluxloop.project.config import ExperimentConfig, Persona
from fluxloop.runner.multiturn import MultiTurnSettings

__all__ = [
    "ConversationView",
    "Decision",
    "ScriptedUser",
    "SimulatedUser",
    "SimulatedUserFactory",
    "UserDecision",
    "decision_dict",
    "make_simulated_user",
]


@dataclass(frozen=True)
class ConversationView:
    """What the simulated user sees after an agent reply."""

    turns: Sequence[Mapping[str, str]]  # [{"role": "user" | "assistant", "content": ...}]
    turn: int  # agent replies so far
    max_turns: int
    persona: Persona | None
    service_context: str | None


class UserDecision(Protocol):
    """What the simulated user does next."""

    @property
    def action(self) -> str:
        """``continue`` or ``terminate``."""
        ...

    @property
    def next_message(self) -> str | None:
        """The next user message (``continue``)."""
        ...

    @property
    def reason(self) -> str | None:
        """The termination reason (``goal_met``, ``supervisor_stop``, a script's reason)."""
        ...

    @property
    def detail(self) -> str | None:
        """Why, in words (``termination_detail``)."""
        ...

    @property
    def closing_message(self) -> str | None:
        """A last user message when terminating."""
        ...

    @property
    def usage(self) -> Mapping[str, int]:
        """Tokens this decision cost (empty for a scripted user)."""
        ...


class SimulatedUser(Protocol):
    """Plays the user of a conversation."""

    @property
    def kind(self) -> str:
        """``script`` (no model calls) or the kind of model behind it (``llm``)."""
        ...

    @property
    def label(self) -> str:
        """What the summary names it (``openai/gpt-4o-mini``)."""
        ...

    async def decide(self, view: ConversationView) -> UserDecision:
        """The next step after the agent's reply; raising fails the conversation
        (``supervisor_error``)."""
        ...

    def usage(self) -> Mapping[str, int]:
        """Calls and tokens so far (``calls``, ``prompt_tokens``, ...)."""
        ...


#: Makes the simulated user of an experiment from ``multi_turn.supervisor`` (with ``provider``
#: normalised) and the config; raises ConfigError for a bad setup (a missing key or package).
#: Picklable (a class or a module-level function): remote executors build it on their workers.
SimulatedUserFactory = Callable[[Mapping[str, Any], ExperimentConfig], SimulatedUser]


@dataclass
class Decision:
    """A decision of the scripted user (any :class:`UserDecision` will do)."""

    action: str
    next_message: str | None = None
    reason: str | None = None
    detail: str | None = None
    closing_message: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)


def decision_dict(decision: UserDecision) -> dict[str, Any]:
    """A decision as the record's ``simulation.decisions`` entries show it."""
    out: dict[str, Any] = {"decision": decision.action}
    for key, value in (
        ("next_user_message", decision.next_message),
        ("termination_reason", decision.reason),
        ("termination_detail", decision.detail),
        ("closing_user_message", decision.closing_message),
    ):
        if value:
            out[key] = value
    return out


class ScriptedUser:
    """The original's ``mock`` supervisor: scripted follow-ups, then stop (or continue)."""

    kind = "script"
    label = "script"

    def __init__(self, settings: MultiTurnSettings) -> None:
        self.settings = settings

    async def decide(self, view: ConversationView) -> UserDecision:
        s = self.settings
        sent = sum(1 for t in view.turns if t.get("role") == "user") - 1
        if sent < len(s.script):
            return Decision("continue", next_message=s.script[sent])
        if s.mock_decision == "continue" and s.mock_next_message:
            return Decision("continue", next_message=s.mock_next_message)
        return Decision("terminate", reason=s.mock_reason, closing_message=s.mock_closing)

    def usage(self) -> Mapping[str, int]:
        return {}


def make_simulated_user(
    settings: MultiTurnSettings,
    config: ExperimentConfig,
    factory: SimulatedUserFactory | None,
) -> SimulatedUser:
    """The scripted user for ``mock``/``script``; else what ``factory`` makes."""
    if settings.scripted:
        return ScriptedUser(settings)
    if factory is None:
        raise ConfigError(
            f"multi_turn.supervisor.provider: {settings.provider!r} needs a simulated user "
            "played by a model, and none was given; run with the fluxloop CLI, or pass "
            "simulated_users=fluxloop.generation.simulated_user.LLMSimulatedUser to "
            "run_experiment (or use provider: mock)",
            key="multi_turn.supervisor.provider",
        )
    supervisor = dict(settings.supervisor)
    supervisor["provider"] = settings.provider
    return factory(supervisor, config)
