"""Resolving ``runner.target`` to a callable, inside the runner's working directory and paths.

Forms: ``module:function``, ``module:Class.method`` (zero-argument constructor, or ``factory``
+ ``factory_kwargs``), ``module:obj.method`` (a module-level instance). Every failure is a
one-line :class:`TargetError` that says what to change.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from fluxloop.errors import ConfigError, TargetError
from fluxloop.sdk.envfile import applied_environ

from .yaml import display_path, suggest

__all__ = [
    "Target",
    "TargetKind",
    "callable_kind",
    "resolve_target",
    "target_environment",
]

TargetKind = Literal["sync", "async", "asyncgen", "gen"]


@dataclass(frozen=True)
class Target:
    spec: str
    func: Callable[..., Any]
    kind: TargetKind
    module: ModuleType
    qualname: str
    instance: object | None = None

    @property
    def display_name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1] if self.qualname else self.spec


def callable_kind(func: Callable[..., Any]) -> TargetKind:
    probe: Any = func
    for _ in range(5):
        if inspect.isasyncgenfunction(probe):
            return "asyncgen"
        if inspect.iscoroutinefunction(probe):
            return "async"
        if inspect.isgeneratorfunction(probe):
            return "gen"
        nxt = getattr(probe, "__wrapped__", None) or getattr(probe, "__func__", None)
        if nxt is None or nxt is probe:
            break
        probe = nxt
    call = getattr(func, "__call__", None)  # noqa: B004 - instances with async __call__
    if call is not None and not inspect.isfunction(func) and not inspect.ismethod(func):
        if inspect.iscoroutinefunction(call):
            return "async"
        if inspect.isasyncgenfunction(call):
            return "asyncgen"
    return "sync"


@contextmanager
def _sys_path(paths: Sequence[Path]) -> Iterator[None]:
    added = [str(p) for p in paths]
    saved = list(sys.path)
    for p in reversed(added):
        sys.path.insert(0, p)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = saved


@contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextmanager
def target_environment(
    working_directory: Path,
    python_path: Sequence[Path] = (),
    environment_vars: Mapping[str, str] | None = None,
    dotenv: Mapping[str, str] | None = None,
    *,
    chdir: bool = True,
) -> Iterator[None]:
    """Apply the runner's working directory, ``sys.path`` entries and environment; restore after.

    ``dotenv`` values never override variables already set; ``environment_vars`` do.
    """
    if not working_directory.is_dir():
        raise ConfigError(
            f"runner.working_directory: directory not found: {display_path(working_directory)}",
            key="runner.working_directory",
        )
    # python_path entries that do not exist are skipped (the config loader warned about them)
    paths = [p.resolve() for p in python_path if p.exists()]
    with ExitStack() as stack:
        stack.enter_context(_sys_path([working_directory.resolve(), *paths]))
        if dotenv:
            stack.enter_context(applied_environ(dotenv, override=False))
        if environment_vars:
            stack.enter_context(applied_environ(environment_vars, override=True))
        if chdir:
            stack.enter_context(_chdir(working_directory))
        yield


def _user_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if "importlib" not in frame.filename and "/fluxloop/runner/" not in frame.filename:
            return f" (at {display_path(Path(frame.filename))}:{frame.lineno})"
    return ""


def _import(module_name: str, spec: str, search: Sequence[Path]) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            # absolute: the import runs inside working_directory, where a relative display of
            # that very directory would read "."
            where = ", ".join(str(p.resolve()) for p in search) or str(Path.cwd())
            top = module_name.split(".", maxsplit=1)[0]
            raise TargetError(
                f"cannot import module {module_name!r} for runner.target {spec!r}: no module "
                f"named {missing!r} under {where}; set runner.working_directory to the directory "
                f"that contains {top}/ (or add it to runner.python_path)",
                key="runner.target",
            ) from exc
        raise TargetError(
            f"importing {module_name!r} for runner.target failed: {type(exc).__name__}: {exc}"
            f"{_user_frame(exc)}; install the missing package or fix the import",
            key="runner.target",
        ) from exc
    except SyntaxError as exc:
        loc = f"{display_path(Path(exc.filename))}:{exc.lineno}" if exc.filename else module_name
        raise TargetError(
            f"importing {module_name!r} for runner.target failed: syntax error at {loc}: {exc.msg}",
            key="runner.target",
        ) from exc
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TargetError(
            f"importing {module_name!r} for runner.target failed: {type(exc).__name__}"
            f"{': ' + message if message else ''}{_user_frame(exc)}",
            key="runner.target",
        ) from exc


def _missing_attr(owner: object, owner_name: str, name: str, spec: str) -> TargetError:
    names = [n for n in dir(owner) if not n.startswith("__")]
    return TargetError(
        f"runner.target {spec!r}: {owner_name} has no attribute {name!r}{suggest(name, names)}",
        key="runner.target",
    )


def _resolve_factory(
    factory: str, module: ModuleType, spec: str, search: Sequence[Path]
) -> Callable[..., Any]:
    if ":" in factory:
        mod_name, _, attr = factory.partition(":")
        owner: Any = _import(mod_name, spec, search)
    else:
        owner, attr = module, factory
    obj: Any = owner
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TargetError(
                f"runner.factory {factory!r}: {getattr(obj, '__name__', obj)!s} has no attribute "
                f"{part!r}",
                key="runner.factory",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise TargetError(f"runner.factory {factory!r} is not callable", key="runner.factory")
    return obj  # type: ignore[no-any-return]


def _construct(
    cls: type,
    spec: str,
    module: ModuleType,
    factory: str | None,
    factory_kwargs: Mapping[str, Any],
    search: Sequence[Path],
) -> object:
    if factory:
        make = _resolve_factory(factory, module, spec, search)
        try:
            return make(**dict(factory_kwargs))
        except Exception as exc:
            raise TargetError(
                f"runner.factory {factory!r} failed: {type(exc).__name__}: {exc}{_user_frame(exc)}",
                key="runner.factory",
            ) from exc
    try:
        return cls()
    except TypeError as exc:
        raise TargetError(
            f"runner.target {spec!r}: cannot construct {cls.__name__}() without arguments ({exc}); "
            'set runner.factory ("module:make_instance") and runner.factory_kwargs',
            key="runner.target",
        ) from exc
    except Exception as exc:
        raise TargetError(
            f"runner.target {spec!r}: {cls.__name__}() failed: {type(exc).__name__}: {exc}"
            f"{_user_frame(exc)}",
            key="runner.target",
        ) from exc


def resolve_target(
    spec: str,
    *,
    factory: str | None = None,
    factory_kwargs: Mapping[str, Any] | None = None,
    search: Sequence[Path] = (),
) -> Target:
    """Import and resolve ``spec``; call inside :func:`target_environment`."""
    module_name, sep, attr_path = spec.strip().partition(":")
    module_name, attr_path = module_name.strip(), attr_path.strip()
    if not sep or not module_name or not attr_path:
        raise TargetError(
            f'runner.target: expected "module:function" or "module:Class.method", found {spec!r}',
            key="runner.target",
        )
    module = _import(module_name, spec, search)
    obj: Any = module
    owner_name = f"module {module_name!r}"
    instance: object | None = None
    parts = attr_path.split(".")
    for part in parts:
        if not hasattr(obj, part):
            raise _missing_attr(obj, owner_name, part, spec)
        if inspect.isclass(obj) and instance is None:
            static = inspect.getattr_static(obj, part, None)
            if isinstance(static, (staticmethod, classmethod)) and not factory:
                obj = getattr(obj, part)
            else:
                instance = _construct(obj, spec, module, factory, factory_kwargs or {}, search)
                obj = getattr(instance, part)
        else:
            obj = getattr(obj, part)
        owner_name = f"{owner_name[:-1]}.{part}'" if owner_name.endswith("'") else part
    if inspect.isclass(obj) and factory:
        obj = _construct(obj, spec, module, factory, factory_kwargs or {}, search)
    if not callable(obj):
        raise TargetError(
            f"runner.target {spec!r} resolves to a {type(obj).__name__}, which is not callable",
            key="runner.target",
        )
    return Target(
        spec=spec,
        func=obj,
        kind=callable_kind(obj),
        module=module,
        qualname=attr_path,
        instance=instance,
    )
