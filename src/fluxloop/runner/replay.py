"""Argument replay: recorded kwargs (``fluxloop.record_call_args``) with new content.

The recording is JSON lines ``{"_version": "1", "iteration": 0, "target": "...", "kwargs": {...},
"timestamp": "..."}``. For each run the recorded kwargs are deep-copied, the generated input is
written at ``override_param_path`` (dot path; integer segments index lists), and recorded
callables (``"<builtin:collector.send>"``, ``"<callable:NAME>"``) are replaced by the providers of
``callable_providers``: ``builtin:collector.send`` / ``builtin:collector.error`` (``:async``
variants) capture what the target sends, or ``module:attr`` names a callable of the user's.
What the ``send`` callbacks receive becomes the run's output; anything sent to an ``error``
callback fails the run.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.errors import ConfigError, InputError

from .config import ReplaySettings
from .yamlio import display_path

__all__ = ["AttrDict", "CallbackCollector", "ReplayPlan", "load_replay"]

_MARKER_PREFIXES = ("<builtin:", "<callable:")


class AttrDict(dict[str, Any]):
    """A dict whose keys are also attributes (recorded objects were serialised to dicts)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def _hydrate(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, AttrDict):
        return AttrDict({k: _hydrate(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_hydrate(v) for v in value]
    return value


class _Done:
    """What a builtin callback returns: usable as a plain call or awaited."""

    def __await__(self) -> Generator[Any, None, None]:
        return None
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        return "None"


@dataclass
class CallbackCollector:
    """What the builtin ``collector.*`` callbacks received during one run."""

    send: list[Any] = field(default_factory=list)
    error: list[Any] = field(default_factory=list)

    @staticmethod
    def _payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if len(args) == 1 and not kwargs:
            return args[0]
        return {"args": list(args), "kwargs": kwargs}

    def make(self, kind: str, is_async: bool) -> Callable[..., Any]:
        sink = self.send if kind == "send" else self.error

        if is_async:

            async def async_callback(*args: Any, **kwargs: Any) -> None:
                sink.append(self._payload(args, kwargs))

            async_callback.__fluxloop_builtin__ = f"collector.{kind}:async"  # type: ignore[attr-defined]
            return async_callback

        def callback(*args: Any, **kwargs: Any) -> _Done:
            sink.append(self._payload(args, kwargs))
            return _Done()

        callback.__fluxloop_builtin__ = f"collector.{kind}"  # type: ignore[attr-defined]
        return callback

    def as_dict(self) -> dict[str, list[Any]]:
        return {"send": list(self.send), "error": list(self.error)}


def _markers(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, str):
        if value.startswith(_MARKER_PREFIXES) and value.endswith(">"):
            out[prefix] = value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _markers(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _markers(v, f"{prefix}.{i}", out)


def _split_path(path: str) -> list[str | int]:
    return [int(p) if p.lstrip("-").isdigit() else p for p in path.split(".") if p != ""]


def _set_path(data: Any, path: str, value: Any) -> Any:
    parts = _split_path(path)
    if not parts:
        return value
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(part, int) and isinstance(node, list) and -len(node) <= part < len(node):
            node = node[part]
            continue
        if isinstance(node, dict):
            if not isinstance(node.get(part), (dict, list)):
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
            continue
        raise KeyError(path)
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int):
        if -len(node) <= last < len(node):
            node[last] = value
        elif last == len(node):
            node.append(value)
        else:
            raise KeyError(path)
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise KeyError(path)
    return data


@dataclass
class ReplayPlan:
    recording_file: Path
    records: list[dict[str, Any]]
    recorded_target: str | None
    override_param_path: str | None
    providers: dict[str, tuple[str, Any]]  # marker path -> (kind, user callable or None)
    notes: list[str] = field(default_factory=list)

    def record_for(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        index = metadata.get("recording_index")
        if isinstance(index, int) and 0 <= index < len(self.records):
            return self.records[index]
        return self.records[-1]

    def build(
        self, text: Any, metadata: Mapping[str, Any]
    ) -> tuple[dict[str, Any], CallbackCollector]:
        record = self.record_for(metadata)
        kwargs: dict[str, Any] = copy.deepcopy(record["kwargs"])
        if self.override_param_path:
            try:
                kwargs = _set_path(kwargs, self.override_param_path, text)
            except KeyError:
                raise InputError(
                    f"replay_args.override_param_path {self.override_param_path!r} does not match "
                    f"the recorded kwargs in {display_path(self.recording_file)}",
                    key="replay_args.override_param_path",
                ) from None
        collector = CallbackCollector()
        for path, (kind, user) in self.providers.items():
            if kind == "user":
                fn = user
            else:
                name, _, variant = kind.partition(":")
                fn = collector.make("send" if name == "send" else "error", variant == "async")
            _set_path(kwargs, path, fn)
        hydrated = {k: _hydrate(v) if isinstance(v, dict) else v for k, v in kwargs.items()}
        return hydrated, collector


def _resolve_provider(param: str, spec: str, marker: str) -> tuple[str, Any]:
    text = spec.strip()
    is_async = marker.endswith(":async>") or text.endswith(":async")
    if text.startswith("builtin:"):
        name = text[len("builtin:") :].removesuffix(":async")
        if name not in ("collector.send", "collector.error"):
            raise ConfigError(
                f"replay_args.callable_providers.{param}: expected builtin:collector.send or "
                f"builtin:collector.error, found {spec!r}",
                key=f"replay_args.callable_providers.{param}",
            )
        kind = name.split(".", 1)[1]
        return (f"{kind}:async" if is_async else kind), None
    module_name, sep, attr = text.partition(":")
    if not sep:
        raise ConfigError(
            f'replay_args.callable_providers.{param}: expected "builtin:collector.send" or '
            f'"module:callable", found {spec!r}',
            key=f"replay_args.callable_providers.{param}",
        )
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"replay_args.callable_providers.{param}: cannot load {spec!r}: {exc}",
            key=f"replay_args.callable_providers.{param}",
        ) from None
    if not callable(obj):
        raise ConfigError(f"replay_args.callable_providers.{param}: {spec!r} is not callable")
    return "user", obj


def load_replay(settings: ReplaySettings, target_spec: str) -> ReplayPlan:
    """Read the recording and check every recorded callable has a provider."""
    path = settings.recording_file
    if path is None:
        raise ConfigError(
            "replay_args.recording_file: required when replay_args.enabled is true",
            key="replay_args.recording_file",
        )
    if not path.is_file():
        raise InputError(
            f"Recording file not found: {display_path(path)} (relative paths resolve against the "
            "project directory; use an absolute path if needed)",
            key="replay_args.recording_file",
        )
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                notes.append(f"{display_path(path)}:{lineno}: not JSON, skipped")
                continue
            if isinstance(data, dict) and isinstance(data.get("kwargs"), dict):
                records.append(data)
            else:
                notes.append(f"{display_path(path)}:{lineno}: no 'kwargs' mapping, skipped")
    if not records:
        raise InputError(
            f"{display_path(path)}: no recorded calls (expected JSON lines with a 'kwargs' "
            "mapping)",
            key="replay_args.recording_file",
        )
    markers: dict[str, str] = {}
    for record in records:
        _markers(record["kwargs"], "", markers)
    providers: dict[str, tuple[str, Any]] = {}
    missing: list[str] = []
    configured = dict(settings.callable_providers)
    for marker_path, marker in sorted(markers.items()):
        param = (
            marker_path.split(".")[0] if marker_path.split(".")[0] in configured else marker_path
        )
        spec = configured.get(marker_path) or configured.get(param)
        if spec is None:
            missing.append(marker_path)
            continue
        providers[marker_path] = _resolve_provider(param, spec, marker)
    if missing:
        raise ConfigError(
            "Missing callable providers for recorded parameters: "
            + ", ".join(missing)
            + " (add them under replay_args.callable_providers, e.g. "
            f'{missing[0]}: "builtin:collector.send")',
            key="replay_args.callable_providers",
        )
    recorded_target = records[-1].get("target")
    if recorded_target and recorded_target != target_spec:
        notes.append(
            f"the recording was made for {recorded_target!r}, replaying into {target_spec!r}"
        )
    return ReplayPlan(
        recording_file=path,
        records=records,
        recorded_target=recorded_target,
        override_param_path=settings.override_param_path,
        providers=providers,
        notes=notes,
    )
