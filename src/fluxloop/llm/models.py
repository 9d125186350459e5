"""Chat-model providers: the langchain packages behind ``openai`` / ``anthropic`` / ``gemini``,
``module:attr`` chat models or factories, and the environment variables holding API keys.

Errors here are plain (:class:`MissingProviderPackage`, :class:`ImportError`,
:class:`AttributeError`, :class:`ValueError`); callers turn them into ConfigErrors naming their
own config section.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "PROVIDERS",
    "PROVIDER_KEY_VARS",
    "UNIVERSAL_KEY_VAR",
    "MissingProviderPackage",
    "ProviderSpec",
    "call_factory",
    "chat_model_class",
    "import_attr",
    "key_env_hint",
    "search_path",
]


class ProviderSpec(NamedTuple):
    """Where a provider's langchain chat model class lives and how to install it."""

    module: str
    class_name: str
    package: str
    extra: str


PROVIDERS: dict[str, ProviderSpec] = {
    "openai": ProviderSpec("langchain_openai", "ChatOpenAI", "langchain-openai", "openai"),
    "anthropic": ProviderSpec(
        "langchain_anthropic", "ChatAnthropic", "langchain-anthropic", "anthropic"
    ),
    "gemini": ProviderSpec(
        "langchain_google_genai", "ChatGoogleGenerativeAI", "langchain-google-genai", "gemini"
    ),
}

#: environment variables holding a provider's API key, most specific first
PROVIDER_KEY_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
#: the key FluxLoop uses for any provider when the provider's own variable is not set
UNIVERSAL_KEY_VAR = "FLUXLOOP_LLM_API_KEY"


class MissingProviderPackage(ImportError):
    """A provider's langchain package is not installed; ``hint`` says how to install it."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.hint = (
            f"needs the {spec.package} package: pip install 'fluxloop[{spec.extra}]' "
            f"(or pip install {spec.package})"
        )
        super().__init__(self.hint, name=spec.module)


def chat_model_class(spec: ProviderSpec) -> Any:
    """The chat model class of ``spec`` (:class:`MissingProviderPackage` when not installed)."""
    module_name, class_name, _package, _extra = spec
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise MissingProviderPackage(ProviderSpec(*spec)) from None
    return getattr(module, class_name)


def key_env_hint(provider: str) -> str:
    """``OPENAI_API_KEY or FLUXLOOP_LLM_API_KEY``: the variables that can hold the key."""
    return " or ".join((*PROVIDER_KEY_VARS.get(provider, ()), UNIVERSAL_KEY_VAR))


@contextlib.contextmanager
def search_path(paths: Sequence[Path]) -> Iterator[None]:
    """``paths`` in front of ``sys.path`` (first one first) for the duration of the block."""
    added = list(dict.fromkeys(str(p) for p in paths if str(p) not in sys.path))
    sys.path[:0] = added
    try:
        yield
    finally:
        for p in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(p)


def import_attr(spec: str, search_paths: Sequence[Path] = ()) -> Any:
    """The object named by ``module:attr`` (``attr`` may be dotted), importing with
    ``search_paths`` in front of ``sys.path``. ValueError when ``spec`` is not of that form;
    ImportError / AttributeError when it does not resolve."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:attribute, found {spec!r}")
    with search_path(search_paths):
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    return value


def call_factory(
    factory: Any, kwargs: Mapping[str, Any], explicit: Mapping[str, Any] | None = None
) -> Any:
    """Call ``factory`` with the ``kwargs`` it declares (all of them for ``**kwargs``
    functions; none when its signature cannot be read) and every ``explicit`` one (which wins:
    an explicit argument the factory does not take is the factory's TypeError)."""
    explicit = explicit or {}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory(**explicit)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values()) and not isinstance(
        factory, type
    )
    chosen = {k: v for k, v in kwargs.items() if (takes_any or k in params) and k not in explicit}
    return factory(**chosen, **explicit)
