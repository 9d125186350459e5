"""``fluxloop collector serve``: the OTLP receiver writing the FluxLoop JSONL contract."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ._common import traces_output_option

__all__ = ["collector"]


@click.group()
def collector() -> None:
    """Receive traces from any OpenTelemetry SDK or Collector."""


@collector.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="OTLP/HTTP port (/v1/traces, the original SDK's /api/traces, /health).",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    default=4317,
    show_default=True,
    help="OTLP/gRPC port; 0 turns gRPC off.",
)
@traces_output_option(help="Directory of traces_YYYYMMDD.jsonl / observations_YYYYMMDD.jsonl.")
@click.option(
    "--api-key",
    envvar="FLUXLOOP_API_KEY",
    default=None,
    help="Require 'Authorization: Bearer KEY' (default: $FLUXLOOP_API_KEY; none: open).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1),
    default=20 * 1024 * 1024,
    show_default=True,
    help="Request size limit, compressed and decompressed (413 beyond).",
)
@click.option(
    "--fsync/--no-fsync",
    default=False,
    show_default=True,
    help="fsync the files before acknowledging a batch (survives power loss; slower).",
)
@click.option(
    "--no-mask",
    is_flag=True,
    help="Store what is received as is (default: secrets masked with the SDK's rules).",
)
@click.option(
    "--max-attribute-bytes",
    type=click.IntRange(64),
    default=32_768,
    show_default=True,
    help="Largest attribute value kept whole; longer ones are cut and marked truncated.",
)
@click.option(
    "--max-attributes",
    type=click.IntRange(1),
    default=128,
    show_default=True,
    help="Attributes kept per span (and per event, link, resource); the rest are dropped.",
)
@click.option(
    "--max-depth",
    type=click.IntRange(1, 200),
    default=10,
    show_default=True,
    help="Nesting kept in a JSON-encoded attribute value.",
)
def serve(
    host: str,
    port: int,
    grpc_port: int,
    output: Path,
    api_key: str | None,
    max_body_bytes: int,
    fsync: bool,
    no_mask: bool,
    max_attribute_bytes: int,
    max_attributes: int,
    max_depth: int,
) -> None:
    """Run the collector until SIGTERM or Ctrl-C (in-flight requests are drained).

    Speaks OTLP/HTTP (protobuf and JSON, gzip), OTLP/gRPC and the original FluxLoop SDK's JSON
    API; every span is written as the FluxLoop JSONL contract, exactly as the SDK writes it.
    """
    from fluxloop.collector import CollectorSettings, IngestPolicy
    from fluxloop.collector import serve as run

    def ready(info: Mapping[str, Any]) -> None:
        grpc = info["grpc_address"] or "off"
        auth = "API key required" if api_key else "no API key"
        masking = "secrets NOT masked (--no-mask)" if no_mask else "secrets masked"
        click.echo(
            f"FluxLoop collector {info['version']}: OTLP/HTTP {info['http_url']}/v1/traces, "
            f"OTLP/gRPC {grpc}, {auth}, {masking}; writing to {info['output_dir']}"
        )

    settings = CollectorSettings(
        host=host,
        port=port,
        grpc_port=grpc_port,
        output_dir=output,
        api_key=api_key or None,
        max_body_bytes=max_body_bytes,
        fsync=fsync,
        ingest=IngestPolicy(
            mask=not no_mask,
            max_attribute_bytes=max_attribute_bytes,
            max_depth=max_depth,
            max_attributes=max_attributes,
        ),
    )
    run(settings, on_ready=ready)  # a ConfigError (exit 2) is reported by fluxloop.cli.main
    click.echo("FluxLoop collector stopped")
