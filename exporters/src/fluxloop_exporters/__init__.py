"""FluxLoop exporters: the JSONL contract (v1) encoders for spans and metrics, the JSONL file
exporters, a batching span processor that spills to disk instead of dropping, and an OTLP exporter
factory with a durable local spool.

Usable without the rest of FluxLoop: ``OTEL_TRACES_EXPORTER=fluxloop_jsonl``,
``OTEL_METRICS_EXPORTER=fluxloop_jsonl`` and ``OTEL_LOGS_EXPORTER=fluxloop_jsonl`` make any
OpenTelemetry app write the FluxLoop contract under ``$FLUXLOOP_BASE_PATH`` (default ``./traces``).

:mod:`fluxloop_exporters.jsoncodec` is the JSON encoder and decoder (orjson when installed, the
standard library otherwise) that the rest of FluxLoop shares.
"""

from . import jsoncodec
from ._contract import (
    CONTRACT_VERSION,
    encode_observation,
    encode_records,
    encode_trace,
    normalize_id,
    observation_type,
    parse_timestamp,
)
from ._jsonl import JsonlFileSpanExporter
from ._jsonl_logs import JsonlFileLogExporter
from ._jsonl_metrics import JsonlFileMetricExporter
from ._log_contract import encode_logs
from ._metric_contract import encode_metrics
from ._otlp import create_otlp_exporter
from ._processor import FluxLoopSpanProcessor
from ._schemas import load_schema

__all__ = [
    "CONTRACT_VERSION",
    "FluxLoopSpanProcessor",
    "JsonlFileLogExporter",
    "JsonlFileMetricExporter",
    "JsonlFileSpanExporter",
    "create_otlp_exporter",
    "encode_logs",
    "encode_metrics",
    "encode_observation",
    "encode_records",
    "encode_trace",
    "jsoncodec",
    "load_schema",
    "normalize_id",
    "observation_type",
    "parse_timestamp",
]
