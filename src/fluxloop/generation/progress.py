"""How input generation reports LLM work in progress: callbacks, never printing.

:func:`fluxloop.generation.api.generate_inputs` calls a :class:`GenerationProgress`; the command
line draws it (:class:`fluxloop.cli.render.LiveProgress`: one line redrawn in place on a
terminal, periodic lines otherwise).
"""

from __future__ import annotations

from typing import Protocol

from fluxloop.llm.usage import UsageMeter

__all__ = ["GenerationProgress"]


class GenerationProgress(Protocol):
    """``start`` once LLM work begins, ``update`` per finished group, ``finish`` at the end."""

    def start(self, label: str, meter: UsageMeter) -> None:
        """LLM calls begin; ``meter`` counts them (its ``listeners`` hear every change)."""

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` calls are finished."""

    def finish(self) -> None:
        """The work ended (also on failure)."""
