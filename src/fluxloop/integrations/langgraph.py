"""LangGraph tracing: graphs, nodes, model calls and tool calls as FluxLoop spans.

LangGraph reports its runs through LangChain callbacks, so the LangChain handler does the
work; this module adds the LangGraph-shaped entry points:

.. code-block:: python

    from fluxloop.integrations.langgraph import instrument_langgraph, traced

    instrument_langgraph()                    # every graph in the process, or
    graph = traced(builder.compile())         # one graph

A top-level graph run becomes ``invoke_agent {graph name}`` (name it with
``builder.compile(name="support_agent")``); each node becomes a ``chain`` span named after
the node, with the chat model (``chat {model}``) and tool (``execute_tool {name}``) spans of
that step under it. Inside a ``@fluxloop.agent`` function the graph run adds no second agent
span: the nodes nest directly under the decorated agent span. LangGraph's ``thread_id``
becomes ``gen_ai.conversation.id``; interrupts and ``Command`` hand-offs are not errors.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fluxloop.integrations.langchain import (
    FluxLoopCallbackHandler,
    instrument_langchain,
    is_langchain_instrumented,
    uninstrument_langchain,
)

__all__ = [
    "FluxLoopCallbackHandler",
    "instrument_langgraph",
    "is_langgraph_instrumented",
    "traced",
    "uninstrument_langgraph",
]

G = TypeVar("G")


def instrument_langgraph(
    handler: FluxLoopCallbackHandler | None = None,
) -> FluxLoopCallbackHandler:
    """Trace every LangGraph graph (and LangChain run) in this process. Idempotent."""
    return instrument_langchain(handler)


def uninstrument_langgraph() -> None:
    """Undo :func:`instrument_langgraph`."""
    uninstrument_langchain()


def is_langgraph_instrumented() -> bool:
    """True while LangGraph / LangChain runs are traced globally."""
    return is_langchain_instrumented()


def traced(graph: G, handler: FluxLoopCallbackHandler | None = None) -> G:
    """``graph`` (any LangChain runnable, typically a compiled graph) with the handler attached.

    Returns ``graph.with_config(callbacks=[handler])``: the same graph, traced on every
    ``invoke`` / ``ainvoke`` / ``stream`` / ``astream``.
    """
    with_config: Any = getattr(graph, "with_config", None)
    if with_config is None:
        raise TypeError(f"traced(): expected a LangChain runnable, found {type(graph).__name__}")
    result: G = with_config(callbacks=[handler or FluxLoopCallbackHandler()])
    return result
