"""LangChain traced as soon as the application imports it, and not before.

``instrument_langchain_on_import()`` is what the runner (``runner.auto_instrument``) and the
``fluxloop_langchain`` OpenTelemetry instrumentor call: it registers a post-import hook (wrapt) on
``langchain_core`` that installs the integration's callback handler when langchain-core is
imported, at once if it already is. A process that never imports LangChain pays nothing for it:
installing the handler imports langchain-core's tracer context, which imports langsmith (about a
third of a second), and FluxLoop's integration itself imports langchain-core.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from types import ModuleType

import wrapt

__all__ = [
    "PROVISIONAL_AGENT_NAMES",
    "instrument_if_requested",
    "instrument_langchain_on_import",
    "stop_langchain_instrumentation",
]

logger = logging.getLogger("fluxloop")

#: Agent names the runner gave targets it wrapped itself (their function names): a LangGraph
#: graph run inside such an agent span names it after the graph.
PROVISIONAL_AGENT_NAMES: set[str] = set()

_INTEGRATION = "fluxloop.integrations.langchain"
_lock = threading.Lock()
_hook_registered = False
_wanted = False
_hide_internal: bool | None = None


def instrument_langchain_on_import(*, hide_internal: bool | None = None) -> None:
    """Trace every LangChain and LangGraph run once langchain-core is imported (now, if it is
    already); ``hide_internal`` as :func:`fluxloop.integrations.langchain.instrument_langchain`
    takes it. Never raises, neither here nor in the application's import."""
    global _hook_registered, _wanted, _hide_internal
    with _lock:
        _wanted, _hide_internal = True, hide_internal
        if not _hook_registered:
            _hook_registered = True
            wrapt.register_post_import_hook(_on_import, "langchain_core")
            return
    if "langchain_core" in sys.modules:
        _on_import(sys.modules["langchain_core"])  # the hook ran already: apply these settings


def stop_langchain_instrumentation() -> None:
    """Undo :func:`instrument_langchain_on_import` (runs in progress still end their spans)."""
    global _wanted
    with _lock:
        _wanted = False
    integration = sys.modules.get(_INTEGRATION)
    if integration is not None:
        integration.uninstrument_langchain()


def instrument_if_requested() -> None:
    """Apply a pending request; called by FluxLoop's LangChain integration once it is imported
    (when it is what imports langchain-core, the hook fires while it is still half-made)."""
    _on_import(None)


def _on_import(_module: ModuleType | None) -> None:
    if not _wanted:
        return
    half_made = sys.modules.get(_INTEGRATION)
    if half_made is not None and not hasattr(half_made, "instrument_langchain"):
        return  # the integration is importing langchain-core: it calls instrument_if_requested
    try:
        integration = importlib.import_module(_INTEGRATION)  # here: see the module docstring
        integration.instrument_langchain(hide_internal=_hide_internal)
    except Exception as exc:  # an application's import must never fail because of FluxLoop
        logger.warning("fluxloop: could not instrument LangChain: %s", exc)
