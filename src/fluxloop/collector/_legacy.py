"""The original FluxLoop SDK's JSON wire API, turned into contract-v1 records.

The original ``FluxLoopClient`` sends one POST per record: ``POST /api/traces`` with a serialized
``TraceData`` and ``POST /api/traces/{trace_id}/observations`` with a serialized
``ObservationData``. Ids (UUID strings or OTel hex) are normalised with
:func:`fluxloop_exporters.normalize_id`, timestamps (naive, ``Z`` or any offset) with
:func:`fluxloop_exporters.parse_timestamp` and written as ISO-8601 UTC with microseconds and
``+00:00``. Keys the contract has no field for (``experiment_id``, ``iteration``, ``persona``,
``llm_parameters``, ``status_message``, …) are kept: the run keys as the trace's
``fluxloop.experiment.*`` / ``fluxloop.run.*`` attributes, the others in ``metadata`` (an existing
metadata key wins). An observation that carries an ``error`` gets ``level: "error"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fluxloop_exporters import normalize_id, parse_timestamp
from fluxloop_semconv import attributes

__all__ = [
    "RecordError",
    "observation_record",
    "parse_json_object",
    "record_day",
    "trace_record",
]

OBSERVATION_TYPES = frozenset(v.value for v in attributes.FluxloopObservationTypeValues)
LEVELS = frozenset(v.value for v in attributes.FluxloopObservationLevelValues)

_TRACE_FIELDS = frozenset(
    {"id", "name", "start_time", "end_time", "session_id", "user_id", "metadata", "tags"}
    | {"status", "input", "output", "attributes"}
)
_TRACE_ATTRS = {
    "experiment_id": "fluxloop.experiment.id",
    "experiment_name": "fluxloop.experiment.name",
    "iteration": "fluxloop.run.iteration",
    "persona": "fluxloop.run.persona",
}
_OBS_FIELDS = frozenset(
    {"id", "trace_id", "parent_observation_id", "type", "name", "start_time", "end_time"}
    | {"input", "output", "error", "level", "metadata", "model", "prompt_tokens"}
    | {"completion_tokens", "total_tokens", "attributes"}
)


class RecordError(ValueError):
    """A body of the original JSON API that is not a valid record (answered with 400)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``; raises :class:`RecordError`."""
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, found {type(data).__name__}")
    return data


def _timestamp(data: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"{key}: required")
        return None
    try:
        parsed: datetime = parse_timestamp(value)
    except (ValueError, OverflowError) as exc:
        raise RecordError(f"{key}: {exc}") from None
    return parsed.isoformat(timespec="microseconds")


def _id(data: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"{key}: required")
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key}: expected a UUID or hex id string, found {value!r}")
    try:
        return normalize_id(value)
    except ValueError as exc:
        raise RecordError(f"{key}: {exc}") from None


def _str(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"{key}: required")
        return None
    if isinstance(value, (dict, list)):
        raise RecordError(f"{key}: expected a string, found {type(value).__name__}")
    return value if isinstance(value, str) else json.dumps(value)


def _metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    value = data.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"metadata: expected an object, found {type(value).__name__}")
    return dict(value)


def _tokens(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecordError(f"{key}: expected a non-negative integer, found {value!r}")
    return value


def trace_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """A contract trace record from an original ``TraceData`` body; raises :class:`RecordError`."""
    metadata = _metadata(data)
    tags = data.get("tags")
    if tags is None:
        tags = []
    elif not isinstance(tags, list):
        raise RecordError(f"tags: expected a list of strings, found {type(tags).__name__}")
    status = data.get("status", "success")
    if not isinstance(status, str) or status not in ("success", "error"):
        raise RecordError(f"status: expected 'success' or 'error', found {status!r}")
    attributes: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TRACE_FIELDS:
            continue
        attr = _TRACE_ATTRS.get(key)
        if attr is not None and isinstance(value, (str, int, float, bool)):
            attributes[attr] = value
        elif value is not None:
            metadata.setdefault(key, value)
    trace_id = _id(data, "id", required=True)
    return {
        "id": trace_id,
        "trace_id": trace_id,
        "name": _str(data, "name", required=True),
        "start_time": _timestamp(data, "start_time", required=True),
        "end_time": _timestamp(data, "end_time", required=False),
        "session_id": _str(data, "session_id"),
        "user_id": _str(data, "user_id"),
        "metadata": metadata,
        "tags": [t if isinstance(t, str) else json.dumps(t) for t in tags],
        "status": status,
        "input": data.get("input"),
        "output": data.get("output"),
        "attributes": attributes,
        "resource": {},  # the original SDK's API carries no resource or scope
        "scope": None,
    }


def observation_record(data: Mapping[str, Any], trace_id: str) -> dict[str, Any]:
    """A contract observation record from an original ``ObservationData`` body posted under
    ``/api/traces/{trace_id}/observations``; raises :class:`RecordError`."""
    try:
        path_trace = normalize_id(trace_id)
    except ValueError as exc:
        raise RecordError(f"trace id in the URL: {exc}") from None
    body_trace = _id(data, "trace_id", required=False)
    if body_trace is not None and body_trace != path_trace:
        raise RecordError(f"trace_id: {body_trace} does not match the URL's {path_trace}")
    obs_type = data.get("type", "span")
    if not isinstance(obs_type, str) or obs_type not in OBSERVATION_TYPES:
        expected = ", ".join(sorted(OBSERVATION_TYPES))
        raise RecordError(f"type: expected one of {expected}, found {obs_type!r}")
    error = _str(data, "error")
    level = data.get("level") or "info"
    if not isinstance(level, str) or level not in LEVELS:
        raise RecordError(f"level: expected one of debug, info, warning, error, found {level!r}")
    if error:
        level = "error"
    metadata = _metadata(data)
    for key, value in data.items():
        if key not in _OBS_FIELDS and value is not None:
            metadata.setdefault(key, value)
    prompt_tokens = _tokens(data, "prompt_tokens")
    completion_tokens = _tokens(data, "completion_tokens")
    total_tokens = _tokens(data, "total_tokens")
    if total_tokens is None and (prompt_tokens is not None or completion_tokens is not None):
        total_tokens = (prompt_tokens or 0) + (completion_tokens or 0)
    attributes = data.get("attributes")
    parent_id = _id(data, "parent_observation_id", required=False)
    return {
        "id": _id(data, "id", required=True),
        "trace_id": path_trace,
        "parent_observation_id": parent_id,
        "parent_id": parent_id,
        "type": obs_type,
        "name": _str(data, "name", required=True),
        "start_time": _timestamp(data, "start_time", required=True),
        "end_time": _timestamp(data, "end_time", required=False),
        "input": data.get("input"),
        "output": data.get("output"),
        "error": error,
        "level": level,
        "metadata": metadata,
        "model": _str(data, "model"),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total_tokens,
        "attributes": dict(attributes) if isinstance(attributes, dict) else {},
        "resource": {},
        "scope": None,
    }


def record_day(record: Mapping[str, Any]) -> str:
    """``YYYYMMDD`` of the daily file a record goes to: the UTC date of its end time, else its
    start time (the rule of the SDK's JSONL exporter)."""
    stamp = record.get("end_time") or record.get("start_time") or "1970-01-01"
    return str(stamp)[:10].replace("-", "")
