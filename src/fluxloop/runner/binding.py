"""Argument binding: how one input becomes a call of the target (the original's ArgBinder).

The runtime input goes to the first parameter named ``input, input_text, message, query, text,
content, user_message``, else to the first positional parameter. Parameters with these names are
filled too when the target declares them (never overriding the input):

=============================================================  ===========================
``conversation_state``, ``state``, ``dialog_state``            ``{turns, metadata, context}``
``conversation_metadata``, ``state_metadata``, ``conversation_meta``  run metadata mapping
``messages``, ``history``, ``turns``                           ``[{"role": "user", ...}]``
``persona``, ``user_persona``, ``persona_config``               :class:`Persona` or None
``persona_prompt``, ``persona_description``, ``persona_text``   ``Persona.to_prompt()``
``auto_approve``, ``auto_approve_tools``, ``approve_tools``, ``autoapprove``  ``True``
``iteration``, ``run_iteration``, ``loop_index``               the iteration number
``context``                                                    ``{persona, iteration, ...}``
=============================================================  ===========================

The signature is inspected once per target; binding a run is a few dict operations.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fluxloop.project.config import Persona

__all__ = ["INPUT_PARAM_NAMES", "Binder", "RunContext", "apply_template"]

INPUT_PARAM_NAMES = ("input", "input_text", "message", "query", "text", "content", "user_message")

_GROUPS: dict[str, str] = {}
for _kind, _names in {
    "state": ("conversation_state", "state", "dialog_state"),
    "state_metadata": ("conversation_metadata", "state_metadata", "conversation_meta"),
    "messages": ("messages", "history", "turns"),
    "persona": ("persona", "user_persona", "persona_config"),
    "persona_prompt": ("persona_prompt", "persona_description", "persona_text"),
    "auto_approve": ("auto_approve", "auto_approve_tools", "approve_tools", "autoapprove"),
    "iteration": ("iteration", "run_iteration", "loop_index"),
    "context": ("context",),
}.items():
    for _name in _names:
        _GROUPS[_name] = _kind


@dataclass(frozen=True)
class RunContext:
    """Everything about one run that binding may inject."""

    input: Any
    iteration: int = 0
    persona: Persona | None = None
    persona_name: str | None = None
    input_index: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    run_id: str = ""
    experiment: str = ""
    auto_approve: bool = True


def apply_template(template: str | None, text: Any, persona: Persona | None) -> Any:
    """``input_template.format(input=..., persona=...)`` when a persona is resolved."""
    if not template or persona is None or not isinstance(text, str):
        return text
    try:
        return template.format(input=text, persona=persona.to_prompt())
    except (KeyError, IndexError, ValueError):
        return text


def _user_turn(ctx: RunContext) -> dict[str, Any]:
    return {"role": "user", "content": ctx.input}


def _value(kind: str, ctx: RunContext) -> Any:
    if kind == "messages":
        return [_user_turn(ctx)]
    if kind == "persona":
        return ctx.persona
    if kind == "persona_prompt":
        return ctx.persona.to_prompt() if ctx.persona else None
    if kind == "iteration":
        return ctx.iteration
    if kind == "auto_approve":
        return ctx.auto_approve
    meta = {
        "iteration": ctx.iteration,
        "persona": ctx.persona_name,
        "persona_description": ctx.persona.description if ctx.persona else None,
        "variation": dict(ctx.metadata),
        "run_id": ctx.run_id,
        "experiment": ctx.experiment,
        "input_index": ctx.input_index,
    }
    if kind == "state_metadata":
        return meta
    if kind == "state":
        return {"turns": [_user_turn(ctx)], "metadata": meta, "context": {}}
    if kind == "context":
        return {
            "persona": ctx.persona_name,
            "iteration": ctx.iteration,
            "input_index": ctx.input_index,
            "metadata": dict(ctx.metadata),
            "run_id": ctx.run_id,
            "experiment": ctx.experiment,
        }
    raise AssertionError(kind)  # pragma: no cover


class Binder:
    """Maps a :class:`RunContext` to ``(args, kwargs)`` for one target."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.input_param: str | None = None
        self.input_positional = False
        self.injections: list[tuple[str, str]] = []
        self.accepts_kwargs = False
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            self.input_positional = True
            return
        params = list(sig.parameters.values())
        self.accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
        named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        chosen: inspect.Parameter | None = None
        for candidate in INPUT_PARAM_NAMES:
            chosen = next((p for p in named if p.name == candidate), None)
            if chosen is not None:
                break
        if chosen is None:
            chosen = next(
                (
                    p
                    for p in named
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.name not in _GROUPS
                ),
                None,
            )
        if chosen is None and any(p.kind is p.VAR_POSITIONAL for p in params):
            self.input_positional = True
        elif chosen is not None:
            self.input_param = chosen.name
            self.input_positional = chosen.kind is chosen.POSITIONAL_ONLY
        for p in named:
            if p.name != self.input_param and p.name in _GROUPS:
                if p.kind is p.POSITIONAL_ONLY:
                    continue
                self.injections.append((p.name, _GROUPS[p.name]))

    def describe(self) -> str:
        parts = []
        if self.input_param:
            parts.append(f"input -> {self.input_param}")
        elif self.input_positional:
            parts.append("input -> first positional argument")
        else:
            parts.append("no input parameter")
        if self.injections:
            parts.append("injects " + ", ".join(name for name, _ in self.injections))
        return "; ".join(parts)

    def bind(
        self, ctx: RunContext, base_kwargs: Mapping[str, Any] | None = None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        kwargs: dict[str, Any] = dict(base_kwargs) if base_kwargs else {}
        args: tuple[Any, ...] = ()
        if base_kwargs is None:
            if self.input_positional:
                args = (ctx.input,)
            elif self.input_param is not None:
                kwargs[self.input_param] = ctx.input
        for name, kind in self.injections:
            if name not in kwargs:
                kwargs[name] = _value(kind, ctx)
        return args, kwargs
