"""Argument replay: recorded kwargs (``fluxloop.record_call_args``) with new content.

The recording is JSON lines ``{"_version": "1", "iteration": 0, "target": "...", "kwargs": {...},
"timestamp": "..."}`` (ours or the original SDK's; read by :func:`load_recording`). Everything is
checked once, before the first run (a problem is a config error, exit code 2, naming the file,
the key and what exists), then each run gets a fresh copy of the chosen recorded call:

* **which call** (``replay_args.use``): ``last`` (default), ``first``, an index (``0``, ``-2``),
  or ``all``. Calls recorded for another target than ``runner.target`` are left out when some
  calls match it. With ``all``, the run of input *i* in iteration *k* replays call
  ``(i + k) mod N`` (so over N iterations every input meets every call). An input that names
  its call (``recording_index``, written by ``generate inputs --from-recording``) replays into
  it when ``use`` is unset or ``all``;
* **the content**: the run's input is written at ``override_param_path`` (dot path, list
  indexes: ``data.content``, ``item.content.0.text``); the path must exist in the recording;
* **callables**: markers (``"<builtin:collector.send>"``, ``"<callable:NAME[:async]>"``) are
  replaced by ``callable_providers`` (keyed by parameter name or dot path):
  ``builtin:collector.send`` / ``builtin:collector.error`` (``:async`` for a coroutine
  function; a recorded ``:async`` marker makes it async too) collect what the target sends,
  ``module:attr`` calls the user's own function (and records what it received). Without any
  ``callable_providers`` the original's defaults apply (``send_message_callback`` →
  ``builtin:collector.send``, ``send_error_callback`` → ``builtin:collector.error``), and a
  recorded ``<builtin:collector.send>`` / ``<builtin:collector.error>`` marker is its own
  provider. Any other marker without a provider is a config error naming the parameter and
  the exact recorded marker;
* **secrets**: values masked when recorded (``"***"``) are filled from environment variables
  named in ``replay_args.secrets`` (``{"user_connection.token": "MY_TOKEN_ENV"}``, read from
  the environment or the project's ``.env``); any left masked are named in a warning;
* recorded mappings are handed over as :class:`AttrDict` (``data.content`` and
  ``data["content"]`` both work, as in the original).

What the ``send`` callbacks receive becomes the run's output (one message as it is, several
joined like streamed chunks); anything sent to a ``collector.error`` callback fails the run
unless ``replay_args.error_callback_fails_run: false`` (it is recorded and shown either way).
Every callback call is also a span (``event``) in the run's trace, and the messages are kept in
``trace_summary.jsonl`` (``callback_messages``, ``replay``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import inspect
import json
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.errors import ConfigError, InputError
from fluxloop.project.config import ReplaySettings
from fluxloop.project.recording import (
    RecordedCall,
    RecordingNotFoundError,
    extract_at_path,
    find_markers,
    format_path,
    load_recording,
    masked_paths,
    set_at_path,
    split_path,
)
from fluxloop.project.yaml import display_path
from fluxloop.sdk import MASK, SerializeOptions, parse_marker, to_json

__all__ = [
    "AttrDict",
    "CallbackCollector",
    "RecordedCall",
    "RecordingNotFoundError",
    "ReplayPlan",
    "extract_at_path",
    "load_recording",
    "load_replay",
    "set_at_path",
]

BUILTIN_PROVIDERS = ("collector.send", "collector.error")
#: the original's ``replay_args.callable_providers`` default, used when none are configured
DEFAULT_PROVIDERS: Mapping[str, str] = {
    "send_message_callback": "builtin:collector.send",
    "send_error_callback": "builtin:collector.error",
}
MAX_CALLBACK_MESSAGES = 1_000
SECTION_CHARS = 256 * 1024  # per list of callback_messages in trace_summary.jsonl
_MESSAGE_OPTIONS = SerializeOptions(max_bytes=64 * 1024, max_depth=12, max_items=500)


class AttrDict(dict[str, Any]):
    """A dict whose keys are also attributes (recorded objects were serialised to dicts)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __deepcopy__(self, memo: dict[int, Any]) -> AttrDict:
        return AttrDict({k: copy.deepcopy(v, memo) for k, v in self.items()})


def _hydrate(value: Any) -> Any:
    if type(value) is dict:
        return AttrDict({k: _hydrate(v) for k, v in value.items()})
    if type(value) is list:
        return [_hydrate(v) for v in value]
    return value


def _copy_json(value: Any) -> Any:
    """A deep copy of plain JSON data (much faster than ``copy.deepcopy``)."""
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) for v in value]
    return value


class _Done:
    """What a synchronous builtin callback returns: usable as a plain call or awaited."""

    def __await__(self) -> Generator[Any, None, None]:
        return None
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        return "None"


# ---------------------------------------------------------------------------------------------
# callbacks


@dataclass(frozen=True)
class Provider:
    """The resolved provider of one recorded callable."""

    key: str  # the callable_providers key (a parameter name or a dot path)
    spec: str
    kind: str  # "send" | "error" | "user"
    is_async: bool = False
    func: Callable[..., Any] | None = None


class CallbackCollector:
    """What the callbacks received during one run (bounded), and which recorded call ran."""

    def __init__(self, replay: Mapping[str, Any] | None = None) -> None:
        self.send: list[Any] = []
        self.error: list[Any] = []
        self.user: list[Any] = []
        self.by_parameter: dict[str, list[Any]] = {}
        self.dropped = 0
        self.replay: dict[str, Any] = dict(replay or {})
        self._delivery: dict[str, Callable[[Any], None]] = {}

    @staticmethod
    def _payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if len(args) == 1 and not kwargs:
            return args[0]
        if not args and len(kwargs) == 1:
            return next(iter(kwargs.values()))
        return {"args": list(args), "kwargs": kwargs}

    def _capture(
        self, param: str, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        payload = self._payload(args, kwargs)
        sink = {"send": self.send, "error": self.error}.get(kind, self.user)
        total = len(self.send) + len(self.error) + len(self.user)
        if total >= MAX_CALLBACK_MESSAGES:
            self.dropped += 1
            return
        sink.append(payload)
        self.by_parameter.setdefault(param, []).append(payload)
        deliver = self._delivery.get(param)
        if deliver is None:
            deliver = self._delivery[param] = _traced_delivery(param, kind)
        with contextlib.suppress(Exception):  # tracing never breaks a run
            deliver(payload)

    def make(
        self,
        kind: str,
        is_async: bool,
        param: str = "callback",
        user: Callable[..., Any] | None = None,
    ) -> Callable[..., Any]:
        """A callback for ``param``: a builtin collector (``send``/``error``) or the user's."""
        capture = functools.partial(self._capture, param, kind)
        if user is not None:
            if inspect.iscoroutinefunction(user):

                @functools.wraps(user)
                async def user_async(*args: Any, **kwargs: Any) -> Any:
                    capture(args, kwargs)
                    return await user(*args, **kwargs)

                return user_async

            @functools.wraps(user)
            def user_sync(*args: Any, **kwargs: Any) -> Any:
                capture(args, kwargs)
                return user(*args, **kwargs)

            return user_sync
        sink = self.send if kind == "send" else self.error
        if is_async:

            async def async_callback(*args: Any, **kwargs: Any) -> None:
                capture(args, kwargs)

            fn: Any = async_callback
        else:

            def callback(*args: Any, **kwargs: Any) -> _Done:
                capture(args, kwargs)
                return _Done()

            fn = callback
        fn.__name__ = fn.__qualname__ = param
        fn.__fluxloop_builtin__ = f"collector.{kind}" + (":async" if is_async else "")
        # the original's collectors exposed what they received
        if kind == "send":
            fn.messages = sink
        else:
            fn.errors = sink
        return fn  # type: ignore[no-any-return]

    def messages(self) -> list[Any]:
        """The messages that make the run's output: builtin sends, else the user's callbacks."""
        return self.send or self.user

    def as_dict(self) -> dict[str, Any]:
        """What the callbacks received, JSON-safe and bounded (``SECTION_CHARS`` per list)."""
        omitted = [0]

        def section(messages: list[Any]) -> list[Any]:
            out: list[Any] = []
            used = 0
            for message in messages:
                text, _ = to_json(message, _MESSAGE_OPTIONS)
                if used + len(text) > SECTION_CHARS:
                    omitted[0] += len(messages) - len(out)
                    out.append(f"…({len(messages) - len(out)} more)")
                    break
                used += len(text)
                out.append(json.loads(text))
            return out

        result: dict[str, Any] = {
            "send": section(self.send),
            "error": section(self.error),
            "by_parameter": {k: section(v) for k, v in self.by_parameter.items()},
        }
        if self.dropped or omitted[0]:
            result["dropped"] = self.dropped
            result["omitted"] = omitted[0]
        return result


def _traced_delivery(param: str, kind: str) -> Callable[[Any], None]:
    """A function whose calls are ``event`` spans named after the parameter, with the message
    as their input, so the trace timeline shows what the target sent."""

    def deliver(message: Any) -> None:
        return None

    try:
        from fluxloop.sdk import trace

        return trace(
            name=param,
            observation_type="event",
            metadata={"fluxloop.callback": kind},
            capture_output=False,
        )(deliver)
    except Exception:  # pragma: no cover - tracing never breaks a run
        return deliver


# ---------------------------------------------------------------------------------------------
# the plan


@dataclass
class ReplayPlan:
    """Everything a run needs to rebuild its call from the recording (checked up front)."""

    recording_file: Path
    calls: list[RecordedCall]  # the calls chosen by ``use`` (checked: every run can use them)
    pool: list[RecordedCall]  # the calls of the target (inputs may name one by index)
    use: str  # "default" (= last), "last", "first", "all" or an index
    override_param_path: str | None
    providers: dict[str, Provider]  # dot path -> provider, for every marker of the pool
    secrets: dict[str, tuple[str, str | None]]  # dot path -> (env var, value or None)
    masked: dict[int, list[str]]  # call index -> paths replayed as "***"
    problems: dict[int, ConfigError] = field(default_factory=dict)  # unusable pool calls
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: whether a call of a collector.error callback fails the run
    error_callback_fails_run: bool = True

    @property
    def records(self) -> list[dict[str, Any]]:
        """The chosen calls as the original's line dicts (``kwargs``, ``target``, …)."""
        return [
            {"kwargs": c.kwargs, "target": c.target, "iteration": c.iteration} for c in self.calls
        ]

    @property
    def recorded_target(self) -> str | None:
        return self.calls[-1].target if self.calls else None

    def binding(self) -> str:
        """How a run's input reaches the target (for ``--dry-run``)."""
        if self.override_param_path:
            return f"input -> {self.override_param_path} of the recorded kwargs"
        return "recorded kwargs as they are (no override_param_path)"

    def describe(self) -> str:
        which = "last" if self.use == "default" else self.use
        if which == "all":
            chosen = f"all {len(self.calls)}, cycled"
        else:
            chosen = f"{which}: line {self.calls[0].line}"
        return f"{display_path(self.recording_file)} ({len(self.pool)} recorded call(s); {chosen})"

    def call_for(
        self, metadata: Mapping[str, Any], iteration: int = 0, input_index: int = 0
    ) -> RecordedCall:
        """The recorded call one run replays (see the module docstring)."""
        index = metadata.get("recording_index")
        if (
            self.use in ("default", "all")
            and isinstance(index, int)
            and not isinstance(index, bool)
        ):
            for call in self.pool:
                if call.index == index and call.index not in self.problems:
                    return call
        if len(self.calls) == 1:
            return self.calls[0]
        return self.calls[(input_index + iteration) % len(self.calls)]

    def _why(self, index: object) -> str:
        problem = self.problems.get(index) if isinstance(index, int) else None
        if problem is not None:
            return str(problem)
        return "no such call for this target"

    def build(
        self,
        text: Any,
        metadata: Mapping[str, Any],
        *,
        iteration: int = 0,
        input_index: int = 0,
    ) -> tuple[dict[str, Any], CallbackCollector]:
        """The kwargs of one run (fresh copies) and the collector of its callbacks."""
        call = self.call_for(metadata, iteration, input_index)
        named = metadata.get("recording_index")
        kwargs: dict[str, Any] = _copy_json(call.kwargs)
        where = call.where
        if self.override_param_path:
            set_at_path(kwargs, self.override_param_path, text, where=where)
        for path, (_var, value) in self.secrets.items():
            if value is not None and _exists(kwargs, path):
                set_at_path(kwargs, path, value, label="replay_args.secrets", where=where)
        collector = CallbackCollector(
            {
                "recording_file": str(self.recording_file),
                "recording_index": call.index,
                "recording_line": call.line,
                "target": call.target,
                "masked": self.masked.get(call.index, []),
            }
        )
        if named is not None and named != call.index and self.use in ("default", "all"):
            collector.replay["note"] = (
                f"the input names recorded call {named!r}, which cannot be replayed "
                f"({self._why(named)}); replayed line {call.line} instead"
            )
        for path, provider in self.providers.items():
            if not _exists(kwargs, path):
                continue
            marker = parse_marker(extract_at_path(kwargs, path))
            is_async = provider.is_async or bool(marker and marker[2])
            fn = collector.make(
                provider.kind,
                is_async,
                param=path,
                user=provider.func if provider.kind == "user" else None,
            )
            set_at_path(kwargs, path, fn, label="replay_args.callable_providers")
        return {k: _hydrate(v) for k, v in kwargs.items()}, collector


def _exists(data: Mapping[str, Any], path: str) -> bool:
    try:
        extract_at_path(data, path)
    except InputError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# loading and checking


def _parse_use(value: object) -> str | int:
    if value is None or value == "":
        return "default"
    if isinstance(value, bool):
        raise ConfigError.for_value(
            "replay_args.use", "last, first, all or a call index (0, -1, ...)", value
        )
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text in ("last", "first", "all"):
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError.for_value(
            "replay_args.use", "last, first, all or a call index (0, -1, ...)", value
        ) from None


def _resolve_provider(key: str, spec: object) -> Provider:
    label = f"replay_args.callable_providers.{key}"
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError.for_value(
            label, '"builtin:collector.send", "builtin:collector.error" or "module:callable"', spec
        )
    text = spec.strip()
    is_async = text.endswith(":async")
    if text.startswith("builtin:"):
        name = text[len("builtin:") :].removesuffix(":async").strip()
        if name not in BUILTIN_PROVIDERS:
            raise ConfigError(
                f"{label}: expected builtin:collector.send or builtin:collector.error (optionally "
                f"with :async), found {spec!r}",
                key=label,
            )
        return Provider(key, text, name.split(".", 1)[1], is_async)
    module_name, sep, attr = text.removesuffix(":async").partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f'{label}: expected "builtin:collector.send", "builtin:collector.error" or '
            f'"module:callable", found {spec!r}',
            key=label,
        )
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise ConfigError(
            f"{label}: cannot load {spec!r}: {type(exc).__name__}: {exc}", key=label
        ) from None
    if not callable(obj):
        raise ConfigError(f"{label}: {spec!r} is not callable", key=label)
    return Provider(key, text, "user", is_async, obj)


def _provider_for(path: str, providers: Mapping[str, Provider]) -> Provider | None:
    """The provider configured for ``path``: the path itself, else its closest ancestor."""
    parts = split_path(path)
    for end in range(len(parts), 0, -1):
        found = providers.get(format_path(parts[:end]))
        if found is not None:
            return found
    return None


def _select(calls: list[RecordedCall], use: str | int, shown: str) -> list[RecordedCall]:
    if use == "all":
        return list(calls)
    if use in ("default", "last"):
        return [calls[-1]]
    if use == "first":
        return [calls[0]]
    assert isinstance(use, int)
    if not -len(calls) <= use < len(calls):
        raise ConfigError(
            f"replay_args.use: call {use} is out of range ({shown} has {len(calls)} recorded "
            f"call(s): 0..{len(calls) - 1}, or -1 for the last)",
            key="replay_args.use",
        )
    return [calls[use]]


def _missing_providers(markers: list[str], found: Mapping[str, object]) -> ConfigError:
    # the exact recorded markers, so nobody has to grep the recording for them
    named = [f"{m} (recorded as {found[m]})" if m in found else m for m in markers]
    return ConfigError(
        "Missing callable providers for recorded parameters: "
        + ", ".join(named)
        + " (add them under replay_args.callable_providers, e.g. "
        f'{markers[0]}: "builtin:collector.send")',
        key="replay_args.callable_providers",
    )


def _builtin_of(value: object) -> str | None:
    """``builtin:collector.send[:async]`` for a recorded builtin marker, else None."""
    parsed = parse_marker(value)
    if parsed is None or parsed[0] != "builtin" or parsed[1] not in BUILTIN_PROVIDERS:
        return None
    return f"builtin:{parsed[1]}" + (":async" if parsed[2] else "")


def load_replay(
    settings: ReplaySettings, target_spec: str, *, environ: Mapping[str, str] | None = None
) -> ReplayPlan:
    """Read the recording and check everything a run will need (config errors up front).

    Call it inside the target's environment (``working_directory`` importable, ``.env``
    applied) so ``module:attr`` providers import and ``replay_args.secrets`` are visible.
    """
    env = os.environ if environ is None else environ
    path = settings.recording_file
    if path is None:
        raise ConfigError(
            "replay_args.recording_file: required when replay_args.enabled is true",
            key="replay_args.recording_file",
        )
    shown = display_path(path)
    notes: list[str] = []
    warnings: list[str] = []
    try:
        all_calls = load_recording(path, notes=notes)
    except RecordingNotFoundError:
        raise RecordingNotFoundError(
            f"Recording file not found: {shown} (replay_args.recording_file; relative paths "
            "resolve against the project directory; use an absolute path if needed)",
            key="replay_args.recording_file",
        ) from None
    use = _parse_use(settings.use)

    # the calls recorded for this target (when the file mixes targets)
    pool = all_calls
    matching = [c for c in all_calls if c.target == target_spec]
    if matching and len(matching) < len(all_calls):
        notes.append(
            f"{shown}: {len(all_calls) - len(matching)} recorded call(s) for other targets left "
            f"out; replaying the {len(matching)} recorded for {target_spec}"
        )
        pool = matching
    elif not matching:
        recorded = sorted({c.target for c in all_calls if c.target})
        if recorded:
            notes.append(
                f"the recording was made for {', '.join(map(repr, recorded))}, replaying into "
                f"{target_spec!r}"
            )
    calls = _select(pool, use, shown)
    chosen = {c.index for c in calls}

    configured: dict[str, Provider] = {}
    defaults = not settings.callable_providers
    for key, spec in dict(settings.callable_providers or DEFAULT_PROVIDERS).items():
        configured[str(key)] = _resolve_provider(str(key), spec)
    override = settings.override_param_path
    if not override:
        warnings.append(
            "replay_args.override_param_path is not set: every run replays the recorded "
            "content unchanged (the inputs are not passed to the target); set it to the path of "
            'the user message, e.g. "data.content"'
        )

    # every call of the pool is checked; the chosen ones must pass (inputs may name others)
    providers: dict[str, Provider] = {}
    problems: dict[int, ConfigError] = {}
    missing: list[str] = []
    recorded_as: dict[str, object] = {}
    for call in pool:
        try:
            if override:
                extract_at_path(call.kwargs, override, where=call.where)
        except ConfigError as exc:
            if call.index in chosen:
                raise
            problems[call.index] = exc
            continue
        call_missing: list[str] = []
        for marker_path in find_markers(call.kwargs):
            provider = _provider_for(marker_path, configured)
            value = extract_at_path(call.kwargs, marker_path)
            builtin = _builtin_of(value)
            if provider is None and builtin is not None:
                provider = _resolve_provider(marker_path, builtin)  # the marker names it
            if provider is None:
                call_missing.append(marker_path)
                recorded_as.setdefault(marker_path, value)
            else:
                providers[marker_path] = provider
        if call_missing:
            if call.index in chosen:
                missing.extend(m for m in call_missing if m not in missing)
            else:
                problems[call.index] = _missing_providers(call_missing, recorded_as)
    if missing:
        raise _missing_providers(missing, recorded_as)
    if problems and use in ("default", "all"):
        warnings.append(
            f"{len(problems)} recorded call(s) cannot be replayed (inputs naming them replay "
            f"the {'last' if use == 'default' else 'next'} call instead): "
            + "; ".join(f"{problem}" for problem in list(problems.values())[:3])
            + (" …" if len(problems) > 3 else "")
        )

    # providers for parameters recorded masked (the original masked "auth_callback" as "***")
    for key, provider in configured.items():
        present = [c for c in pool if _exists(c.kwargs, key)]
        if not present and not defaults:
            notes.append(
                f"replay_args.callable_providers.{key}: no such recorded parameter; ignored"
            )
        for call in present:
            if extract_at_path(call.kwargs, key) == MASK:
                providers.setdefault(key, provider)

    # secrets from the environment
    secrets: dict[str, tuple[str, str | None]] = {}
    for secret_path, var in dict(settings.secrets).items():
        label = f"replay_args.secrets.{secret_path}"
        if not isinstance(var, str) or not var.strip():
            raise ConfigError.for_value(label, "the name of an environment variable", var)
        if not any(_exists(c.kwargs, str(secret_path)) for c in calls):
            extract_at_path(calls[0].kwargs, str(secret_path), label=label, where=calls[0].where)
        value = env.get(var.strip())
        if value is None:
            warnings.append(
                f"{label}: environment variable {var.strip()} is not set; the recorded value "
                "stays masked"
            )
        secrets[str(secret_path)] = (var.strip(), value)

    # whatever is still masked
    filled = {p for p, (_, v) in secrets.items() if v is not None}
    masked: dict[int, list[str]] = {}
    for call in pool:
        left = [
            p
            for p in masked_paths(call.kwargs)
            if p not in filled and p not in providers and p != override
        ]
        if left:
            masked[call.index] = left
    shown_masked = sorted({p for c in calls for p in masked.get(c.index, [])})
    if shown_masked:
        warnings.append(
            f"{len(shown_masked)} recorded value(s) were masked when recorded and will be "
            f"replayed as {MASK!r}: {', '.join(shown_masked)} (fill them from the environment "
            f"with replay_args.secrets, e.g. {shown_masked[0]}: MY_ENV_VAR)"
        )

    return ReplayPlan(
        recording_file=path,
        calls=calls,
        pool=pool,
        use=use if isinstance(use, str) else str(use),
        override_param_path=override,
        providers=providers,
        secrets=secrets,
        masked=masked,
        problems=problems,
        notes=notes,
        warnings=warnings,
        error_callback_fails_run=settings.error_callback_fails_run,
    )
