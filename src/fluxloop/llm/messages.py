"""Messages as FluxLoop writes them, ``(role, content)``, and their langchain-core form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Message", "to_langchain"]

#: ``(role, content)``; role is ``system``, ``human`` (or ``user``) or ``ai``
Message = tuple[str, str]


def to_langchain(messages: Sequence[Message]) -> list[Any]:
    """The langchain-core messages of ``messages`` (an unknown role is the model's own turn)."""
    # imported here, not at the top: langchain_core.messages costs ~0.25 s, and the runner
    # imports this package whether or not a model is ever called
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds: dict[str, Any] = {"system": SystemMessage, "human": HumanMessage, "user": HumanMessage}
    return [kinds.get(role, AIMessage)(content=content) for role, content in messages]
