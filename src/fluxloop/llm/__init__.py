"""LLM plumbing shared by input generation and the LLM judge (langchain-core chat models).

* :mod:`fluxloop.llm.models`: the provider table, loading provider classes, ``module:attr``
  chat models and factories, API-key variables;
* :mod:`fluxloop.llm.text`: the text of a reply and lenient JSON extraction;
* :mod:`fluxloop.llm.retry`: HTTP status, ``Retry-After``, transient/fatal classification,
  backoff and one-line error descriptions.

It depends on nothing but :mod:`fluxloop.errors`; generation and analysis both build on it.
"""

from __future__ import annotations

from .models import (
    PROVIDER_KEY_VARS,
    PROVIDERS,
    UNIVERSAL_KEY_VAR,
    MissingProviderPackage,
    ProviderSpec,
    call_factory,
    chat_model_class,
    import_attr,
    key_env_hint,
)
from .retry import (
    FATAL_STATUS,
    RETRYABLE_STATUS,
    backoff_delay,
    describe_error,
    is_fatal,
    is_transient,
    retry_after_seconds,
    status_of,
)
from .text import extract_json, json_values, message_text

__all__ = [
    "FATAL_STATUS",
    "PROVIDERS",
    "PROVIDER_KEY_VARS",
    "RETRYABLE_STATUS",
    "UNIVERSAL_KEY_VAR",
    "MissingProviderPackage",
    "ProviderSpec",
    "backoff_delay",
    "call_factory",
    "chat_model_class",
    "describe_error",
    "extract_json",
    "import_attr",
    "is_fatal",
    "is_transient",
    "json_values",
    "key_env_hint",
    "message_text",
    "retry_after_seconds",
    "status_of",
]
