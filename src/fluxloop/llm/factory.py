"""The one chat-model factory: :class:`~fluxloop.llm.settings.LLMSettings` to a langchain-core
chat model, for generation, the simulated user and the judge.

* ``openai`` (langchain-openai; ``base_url`` reaches any OpenAI-compatible server: vLLM, Ollama,
  LM Studio, gateways), ``anthropic`` (langchain-anthropic), ``gemini``
  (langchain-google-genai): built with ``max_retries=0`` (the client retries, once);
* ``module:attr``: a chat model, or a factory returning one, called with the settings it
  declares (``model``, ``temperature``, ...) and every ``init_kwargs`` entry.

Every problem is one ConfigError line that starts with the caller's ``where``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxloop.errors import ConfigError

from .models import (
    PROVIDERS,
    MissingProviderPackage,
    ProviderSpec,
    call_factory,
    chat_model_class,
    import_attr,
    key_env_hint,
)
from .settings import LLMSettings

__all__ = ["make_chat_model"]

#: provider names accepted for ``gemini``
_ALIASES = {"google": "gemini", "google_genai": "gemini"}


def _settings_kwargs(settings: LLMSettings) -> dict[str, Any]:
    values = {
        "model": settings.model,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "top_p": settings.top_p,
        "base_url": settings.base_url,
        "api_key": settings.api_key,
        "timeout": settings.timeout,
        "seed": settings.seed,
    }
    return {k: v for k, v in values.items() if v is not None}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _from_reference(settings: LLMSettings, where: str, field: str) -> Any:
    ref = settings.provider
    try:
        obj: Any = import_attr(ref, settings.search_paths)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{where}: {field} {ref!r}: cannot load: {_first_line(exc)}") from None
    if not hasattr(obj, "ainvoke") and callable(obj):
        try:
            obj = call_factory(obj, _settings_kwargs(settings), settings.init_kwargs)
        except Exception as exc:
            raise ConfigError(
                f"{where}: {field} {ref!r}: the factory raised {_first_line(exc)}"
            ) from None
    if not hasattr(obj, "ainvoke"):
        raise ConfigError(
            f"{where}: {field} {ref!r}: expected a langchain-core chat model (or a factory "
            f"returning one), found {type(obj).__name__}"
        )
    return obj


def _provider_kwargs(name: str, settings: LLMSettings, key: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": settings.model, "max_retries": 0}
    if settings.timeout is not None:
        kwargs["timeout"] = settings.timeout
    for option in ("temperature", "top_p", "max_tokens"):
        value = getattr(settings, option)
        if value is not None:
            kwargs[option] = value
    if name == "openai":
        kwargs["api_key"] = key
        for option in ("frequency_penalty", "presence_penalty", "seed", "reasoning_effort"):
            value = getattr(settings, option)
            if value is not None:
                kwargs[option] = value
        if settings.extra:
            kwargs["model_kwargs"] = dict(settings.extra)
    elif name == "anthropic":
        kwargs["api_key"] = key
        kwargs.setdefault("max_tokens", 1024)
    else:  # gemini: the google client retries on its own terms and takes its key by this name
        del kwargs["max_retries"]
        kwargs["google_api_key"] = key
    if settings.base_url and name != "gemini":
        kwargs["base_url"] = settings.base_url
    if settings.model is None:
        del kwargs["model"]
    return kwargs


def _api_key(name: str, settings: LLMSettings) -> str | None:
    init = settings.init_kwargs
    key = settings.api_key or init.get("api_key") or init.get("google_api_key")
    if key:
        return str(key)
    if name == "openai" and (settings.base_url or init.get("base_url")):
        return "EMPTY"  # a local OpenAI-compatible server needs no key, the client wants one
    return None


def make_chat_model(
    settings: LLMSettings,
    *,
    where: str,
    role: str,
    field: str = "provider",
    offline_hint: str | None = None,
    providers: Mapping[str, ProviderSpec] = PROVIDERS,
) -> Any:
    """A langchain-core chat model for ``settings``; ConfigError (one line starting with
    ``where``) when it cannot be built. ``role`` names the model in messages (``judge``),
    ``field`` the setting holding a ``module:attr`` reference, ``offline_hint`` what to do
    without a key, ``providers`` the providers this caller accepts."""
    provider = settings.provider
    if ":" in provider:
        return _from_reference(settings, where, field)
    name = _ALIASES.get(provider, provider)
    spec = providers.get(name)
    if spec is None:
        raise ConfigError(
            f'{where}: {field}: expected {", ".join(providers)} or "module:attr" (a '
            f"langchain-core chat model or a factory returning one), found {provider!r}"
        )
    try:
        cls = chat_model_class(spec)
    except MissingProviderPackage as exc:
        raise ConfigError(f"{where}: provider {name} {exc.hint}") from None
    cannot = f"{where}: cannot create the {name} {role} model"
    key = _api_key(name, settings)
    if key is None:
        offline = f"; or {offline_hint}" if offline_hint else ""
        raise ConfigError(
            f"{cannot}: No API key found for {name} (set {key_env_hint(name)} in the "
            f"environment or the project's .env, or run `fluxloop config set-llm {name} <key>`"
            f"{offline})"
        )
    kwargs = _provider_kwargs(name, settings, key)
    kwargs.update(settings.init_kwargs)
    try:
        return cls(**kwargs)
    except Exception as exc:
        raise ConfigError(f"{cannot}: {_first_line(exc)} (set {key_env_hint(name)})") from None
