"""Access to the packaged JSON Schemas (``exporters/schemas/*.schema.json``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ._contract import CONTRACT_VERSION

__all__ = ["load_schema", "schema_dir"]

_OLD_VERSIONS = frozenset({"1"})


def schema_dir() -> Path:
    """The directory holding the schemas: packaged in the wheel as ``fluxloop_exporters/schemas``,
    or ``exporters/schemas`` in a source checkout (editable install)."""
    here = Path(__file__).resolve().parent
    packaged = here / "schemas"
    if packaged.is_dir():
        return packaged
    return here.parents[1] / "schemas"


@cache
def _load(name: str, version: str | None) -> str:
    stem = name.removesuffix(".json").removesuffix(".schema")
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        raise ValueError(f"invalid schema name {name!r}")
    if version is not None and version not in _OLD_VERSIONS:
        raise ValueError(f"no schemas for contract version {version!r}")
    folder = schema_dir() / f"v{version}" if version is not None else schema_dir()
    path = folder / f"{stem}.schema.json"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        available = sorted(
            p.name.removesuffix(".schema.json") for p in schema_dir().glob("*.schema.json")
        )
        raise ValueError(
            f"no schema named {stem!r}; available: {', '.join(available) or 'none'}"
        ) from None


def load_schema(name: str, version: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) named ``name`` -- ``"observation"``, ``"trace"``, ... (a
    ``.schema.json`` suffix is accepted). Returns a fresh dict each call.

    ``version`` selects the schema of an older contract version (``"1"``: the observation and trace
    records before resource, scope, ``parent_id`` and ``trace_id`` were added); the default is the
    current version."""
    if version is not None and version == CONTRACT_VERSION:
        version = None
    loaded: dict[str, Any] = json.loads(_load(name, version))
    return loaded
