"""The LLM layer: one client for input generation, the simulated user and the LLM judge
(langchain-core chat models).

* :mod:`fluxloop.llm.client`: :class:`~fluxloop.llm.client.LLMClient`, the one way to call a
  model (cache, bounded concurrency, tenacity retries honouring ``Retry-After``, re-asks,
  budget, circuit breaker, usage);
* :mod:`fluxloop.llm.settings`: ``LLMSettings`` (how to reach a model) and ``CallPolicy``;
* :mod:`fluxloop.llm.factory`: ``make_chat_model``, the one model factory;
* :mod:`fluxloop.llm.cache` / :mod:`fluxloop.llm.usage` / :mod:`fluxloop.llm.messages`: the
  response cache (masked), the usage meter, ``(role, content)`` to langchain messages;
* :mod:`fluxloop.llm.models`: the provider table, loading provider classes, ``module:attr``
  chat models and factories, API-key variables;
* :mod:`fluxloop.llm.text`: the text of a reply, lenient JSON extraction (repair),
  ``MalformedOutput``;
* :mod:`fluxloop.llm.retry`: HTTP status, ``Retry-After``, transient/fatal classification,
  backoff and one-line error descriptions.

It depends on :mod:`fluxloop.errors` and :mod:`fluxloop.sdk.masking` only (runner, generation,
analysis and cassette build on it). This package namespace re-exports the light modules only;
import the client from :mod:`fluxloop.llm.client` (it loads tenacity), so the cassettes'
use of :mod:`fluxloop.llm.text` in an agent's process stays cheap.
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
    is_retryable,
    is_transient,
    retry_after_seconds,
    status_of,
)
from .text import MalformedOutput, extract_json, json_values, message_text, parse_json_object

__all__ = [
    "FATAL_STATUS",
    "PROVIDERS",
    "PROVIDER_KEY_VARS",
    "RETRYABLE_STATUS",
    "UNIVERSAL_KEY_VAR",
    "MalformedOutput",
    "MissingProviderPackage",
    "ProviderSpec",
    "backoff_delay",
    "call_factory",
    "chat_model_class",
    "describe_error",
    "extract_json",
    "import_attr",
    "is_fatal",
    "is_retryable",
    "is_transient",
    "json_values",
    "key_env_hint",
    "message_text",
    "parse_json_object",
    "retry_after_seconds",
    "status_of",
]
