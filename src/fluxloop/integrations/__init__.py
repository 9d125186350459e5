"""Framework integrations: LangChain, LangGraph and the pytest plugin.

Each integration lives in its own module and is imported explicitly, so ``import fluxloop``
never pays for a framework it does not use:

- :mod:`fluxloop.integrations.langchain`: a LangChain callback handler that turns chains,
  chat models, tools and retrievers into FluxLoop spans, and ``instrument_langchain()``.
- :mod:`fluxloop.integrations.langgraph`: the same for LangGraph graphs (node spans named
  after the nodes, under the agent span).
- :mod:`fluxloop.integrations.pytest_plugin`: the ``fluxloop_spans``, ``fluxloop_runner``
  and ``fluxloop_cli`` fixtures (registered through the ``pytest11`` entry point).
"""

from __future__ import annotations

__all__: list[str] = []
