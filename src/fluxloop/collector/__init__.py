"""The FluxLoop collector: an OTLP receiver (HTTP protobuf/JSON and gRPC) that writes the FluxLoop
JSONL contract, and an importer of OTLP JSON lines from any OpenTelemetry pipeline.

``serve`` needs the optional extra ``pip install 'fluxloop[collector]'`` (uvicorn, starlette);
``check_health`` and ``import_otlp_files`` need nothing beyond FluxLoop's own dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluxloop.collector._health import check_health
from fluxloop.collector._import import ImportResult, import_otlp_files
from fluxloop.collector._ingest import IngestPolicy
from fluxloop.collector._server import CollectorSettings, require_server_extra, serve

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from fluxloop.collector._sink import Sink

__all__ = [
    "CollectorSettings",
    "ImportResult",
    "IngestPolicy",
    "check_health",
    "create_app",
    "import_otlp_files",
    "require_server_extra",
    "serve",
]


def create_app(sink: Sink, **kwargs: Any) -> Starlette:
    """The collector's ASGI application (see :func:`fluxloop.collector._http.create_app`); for
    embedding the collector in another ASGI server or testing it in-process."""
    require_server_extra()
    from fluxloop.collector._http import create_app as _create_app

    return _create_app(sink, **kwargs)
