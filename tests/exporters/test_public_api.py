"""The public API of fluxloop_exporters is small and pinned."""

from __future__ import annotations

import fluxloop_exporters


def test_all_is_pinned() -> None:
    assert sorted(fluxloop_exporters.__all__) == [
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
    for name in fluxloop_exporters.__all__:
        assert getattr(fluxloop_exporters, name) is not None


def test_implementation_lives_in_private_modules() -> None:
    public = {n for n in dir(fluxloop_exporters) if not n.startswith("_")}
    assert public == set(fluxloop_exporters.__all__)
