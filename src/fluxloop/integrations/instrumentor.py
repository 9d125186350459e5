"""``LangChainInstrumentor``: the LangChain / LangGraph integration as an OpenTelemetry
instrumentor, registered as the ``opentelemetry_instrumentor`` entry point
``fluxloop_langchain``, so ``opentelemetry-instrument python app.py`` traces every LangChain and
LangGraph run with no code (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=fluxloop_langchain`` turns it
off). In code: ``LangChainInstrumentor().instrument()``, same as
:func:`fluxloop.integrations.langchain.instrument_langchain`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from fluxloop.integrations.langchain import instrument_langchain, uninstrument_langchain

__all__ = ["LangChainInstrumentor"]


class LangChainInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces LangChain and LangGraph runs through FluxLoop's callback handler."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """The library this instruments (opentelemetry-instrument skips it when missing)."""
        return ("langchain-core >= 0.3",)

    def _instrument(self, **kwargs: Any) -> None:
        instrument_langchain()

    def _uninstrument(self, **kwargs: Any) -> None:
        uninstrument_langchain()
