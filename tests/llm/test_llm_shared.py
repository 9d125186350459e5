"""The shared LLM plumbing: provider factory errors, message text, lenient JSON, retries."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fluxloop.llm import (
    PROVIDERS,
    MissingProviderPackage,
    ProviderSpec,
    backoff_delay,
    call_factory,
    chat_model_class,
    describe_error,
    extract_json,
    import_attr,
    is_fatal,
    is_transient,
    json_values,
    key_env_hint,
    message_text,
    retry_after_seconds,
    status_of,
)

# -- models --------------------------------------------------------------------------------


def test_missing_provider_package_names_the_extra() -> None:
    spec = ProviderSpec("no_such_langchain_pkg", "ChatX", "langchain-x", "openai")
    with pytest.raises(MissingProviderPackage) as info:
        chat_model_class(spec)
    assert info.value.hint == (
        "needs the langchain-x package: pip install 'fluxloop[openai]' (or pip install langchain-x)"
    )
    assert isinstance(info.value, ImportError)


def test_provider_table_and_key_hints() -> None:
    assert PROVIDERS["openai"].extra == "openai"
    assert PROVIDERS["gemini"].package == "langchain-google-genai"
    assert key_env_hint("openai") == "OPENAI_API_KEY or FLUXLOOP_LLM_API_KEY"
    assert key_env_hint("gemini") == "GEMINI_API_KEY or GOOGLE_API_KEY or FLUXLOOP_LLM_API_KEY"
    assert key_env_hint("other") == "FLUXLOOP_LLM_API_KEY"


def test_import_attr(tmp_path: Path) -> None:
    (tmp_path / "shared_llm_factory_mod.py").write_text(
        "class NS:\n    value = 42\n", encoding="utf-8"
    )
    assert import_attr("shared_llm_factory_mod:NS.value", [tmp_path]) == 42
    assert str(tmp_path) not in __import__("sys").path
    with pytest.raises(ValueError, match="expected module:attribute"):
        import_attr("no_colon", [])
    with pytest.raises(ValueError):
        import_attr(":attr", [])
    with pytest.raises(ImportError):
        import_attr("no_such_module_xyz:attr", [])
    with pytest.raises(AttributeError):
        import_attr("shared_llm_factory_mod:missing", [tmp_path])


def test_call_factory_passes_declared_kwargs() -> None:
    def narrow(model: str) -> Any:
        return ("narrow", model)

    def wide(**kwargs: Any) -> Any:
        return kwargs

    kwargs = {"model": "m", "temperature": 0.1}
    assert call_factory(narrow, kwargs) == ("narrow", "m")
    assert call_factory(wide, kwargs) == kwargs


# -- text ------------------------------------------------------------------------------------


def test_message_text() -> None:
    assert message_text(SimpleNamespace(content="hi")) == "hi"
    blocks = [{"type": "text", "text": "a"}, "b", {"type": "image"}, {"text": 3}]
    assert message_text(SimpleNamespace(content=blocks)) == "ab"
    assert message_text(SimpleNamespace(content=None)) == ""
    assert message_text("plain") == "plain"
    assert message_text(SimpleNamespace(content=7)) == "7"


def test_extract_json_is_lenient() -> None:
    assert extract_json('text {"a": "}"} more') == {"a": "}"}
    assert extract_json("```\n[1, 2,]\n```") == [1, 2]
    assert extract_json("```python\n{'a': True, 'b': None}\n```") == {"a": True, "b": None}
    assert extract_json("no json here") is None
    assert extract_json('{"a": {"b": [1, {"c": "x"}]}}') == {"a": {"b": [1, {"c": "x"}]}}
    assert extract_json('Sure [note] then {"k": 1} and [2]') == {"k": 1}
    assert extract_json('"just a string"') == "just a string"
    assert extract_json("[a] (b)") is None


def test_json_values_keeps_null_and_order() -> None:
    assert list(json_values("null")) == [None]
    assert list(json_values('x {"a": [1]} y')) == [{"a": [1]}, [1]]


# -- retry -----------------------------------------------------------------------------------


class _Err(Exception):
    def __init__(self, status: int | None = None, headers: Any = None, **extra: Any) -> None:
        super().__init__("boom")
        if status is not None:
            self.status_code = status
        if headers is not None:
            self.response = SimpleNamespace(headers=headers)
        for k, v in extra.items():
            setattr(self, k, v)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds(_Err(retry_after=2)) == 2.0
    assert retry_after_seconds(_Err(headers={"retry-after-ms": "1500"})) == 1.5
    assert retry_after_seconds(_Err(headers={"retry-after": "3"})) == 3.0
    assert retry_after_seconds(_Err(headers={"retry-after": "-3"})) == 0.0
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    assert retry_after_seconds(_Err(headers={"retry-after": date}), now=1445412480.0) == 10.0
    assert retry_after_seconds(_Err(headers={"retry-after": "soon"})) is None
    assert retry_after_seconds(_Err(headers={})) is None
    assert retry_after_seconds(_Err()) is None


def test_classification_and_description() -> None:
    class ReadTimeout(Exception):
        pass

    response_status = _Err()
    response_status.response = SimpleNamespace(status_code=503, headers={})
    assert status_of(response_status) == 503 and is_transient(response_status)
    assert is_transient(_Err(429)) and not is_fatal(_Err(429))
    assert is_fatal(_Err(401)) and not is_transient(_Err(401))
    assert not is_transient(_Err(400))
    assert is_transient(TimeoutError()) and is_transient(ReadTimeout())
    assert not is_transient(ValueError("x"))
    assert describe_error(_Err(429)) == "HTTP 429: _Err: boom"
    assert describe_error(ValueError()) == "ValueError"
    assert len(describe_error(ValueError("x" * 500))) < 230


def test_backoff_delay() -> None:
    assert backoff_delay(_Err(), 3, base=1.0, cap=60.0) == 4.0
    assert backoff_delay(_Err(), 10, base=1.0, cap=30.0) == 30.0
    assert backoff_delay(_Err(retry_after=7), 1, base=1.0, cap=60.0) == 7.0
    jittered = backoff_delay(_Err(), 2, base=1.0, cap=60.0, rng=random.Random(1))
    assert 1.0 <= jittered <= 2.0
