"""``LangChainInstrumentor``: the LangChain / LangGraph integration as an OpenTelemetry
instrumentor, registered as the ``opentelemetry_instrumentor`` entry point
``fluxloop_langchain``, so ``opentelemetry-instrument python app.py`` traces every LangChain and
LangGraph run with no code, from the moment the application imports langchain-core
(``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=fluxloop_langchain`` turns it off). In code:
``LangChainInstrumentor().instrument()``, which installs what
:func:`fluxloop.integrations.langchain.instrument_langchain` does once langchain-core is imported.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from fluxloop.integrations.autoinstrument import (
    instrument_langchain_on_import,
    stop_langchain_instrumentation,
)

__all__ = ["LangChainInstrumentor"]


class LangChainInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces LangChain and LangGraph runs through FluxLoop's callback handler."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """The library this instruments (opentelemetry-instrument skips it when missing)."""
        return ("langchain-core >= 0.3",)

    def _instrument(self, **kwargs: Any) -> None:
        # when the application imports langchain-core (at once if it has): an application
        # that does not use it never pays for importing it
        instrument_langchain_on_import()

    def _uninstrument(self, **kwargs: Any) -> None:
        stop_langchain_instrumentation()
