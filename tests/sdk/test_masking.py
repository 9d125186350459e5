"""Tests of fluxloop.sdk.masking: the key rule, value patterns, mask_secrets and the fast detectors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fluxloop_exporters import FluxLoopSpanProcessor, JsonlFileSpanExporter
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

import fluxloop
from fluxloop.sdk import _serialize
from fluxloop.sdk._exporting import Prepare
from fluxloop.sdk._serialize import SerializeOptions, to_json, use_orjson
from fluxloop.sdk.masking import (
    REDACTED,
    display_mask,
    fast_key_scan,
    is_secret_key,
    json_may_contain_secret_value,
    mask_attribute_text,
    mask_json_text,
    mask_secrets,
    mask_string,
    mask_text,
)

from .conftest import Exported

IMPLEMENTATIONS = ["orjson", "json"] if _serialize.ORJSON_AVAILABLE else ["json"]

SECRET_KEYS = [
    "api_key",
    "apiKey",
    "APIKey",
    "ApiKey",
    "X-API-Key",
    "x-api-key",
    "OPENAI_API_KEY",
    "api_keys",
    "apikey",
    "user_token",
    "refresh_token",
    "access_token",
    "accessToken",
    "id_token",
    "token",
    "Token",
    "TOKEN",
    "X-Auth-Token",
    "csrftoken",
    "Authorization",
    "authorization",
    "Proxy-Authorization",
    "auth",
    "db_password",
    "password",
    "PASSWORD",
    "passwd",
    "pwd",
    "passphrase",
    "dbPassword",
    "password2",
    "client_secret",
    "clientSecret",
    "secret",
    "secrets",
    "webhook_secret",
    "aws_secret_access_key",
    "AWS_SECRET_ACCESS_KEY",
    "private_key",
    "privateKey",
    "access_key",
    "session_key",
    "secret_key",
    "encryption_key",
    "Cookie",
    "Set-Cookie",
    "cookies",
    "credential",
    "credentials",
    "gcp.credentials",
    "bearer",
    "jwt",
    "user.password",
    "auth token",
]

NOT_SECRET_KEYS = [
    "monkey",
    "author",
    "authors",
    "authority",
    "keyboard",
    "keynote",
    "key",
    "keys",
    "secretary",
    "tokens",
    "max_tokens",
    "maxTokens",
    "MAX_TOKENS",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "tokens_used",
    "input_tokens",
    "max_token",
    "token_count",
    "tokenCount",
    "token_usage",
    "token_type",
    "tokenizer",
    "session_id",
    "sessionId",
    "user_id",
    "auth_type",
    "auth_method",
    "secret_name",
    "password_policy",
    "cookie_name",
    "primary_key",
    "partition_key",
    "cache_key",
    "api",
    "api_version",
    "signature",
    "function_signature",
    "passenger",
    "compass",
    "bypass",
    "oauth",
    "credit",
    "query",
    "",
    "_",
    "__init__",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key) is True


@pytest.mark.parametrize("key", NOT_SECRET_KEYS)
def test_not_secret_keys(key: str) -> None:
    assert is_secret_key(key) is False


def test_long_keys() -> None:
    assert is_secret_key("x" * 300 + "_password")
    assert not is_secret_key("x" * 300 + "_monkey")


# --------------------------------------------------------------------------------------
# value patterns
# --------------------------------------------------------------------------------------

OPENAI_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
ANTHROPIC_KEY = "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb3dEf6h-AAAA"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_TEMP_ID = "ASIAIOSFODNN7EXAMPL2"
GITHUB = "ghp_" + "a1B2c3D4e5" * 4
GITHUB_PAT = "github_pat_" + "11ABCDEFG0" * 4
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "MIIEowIBAAKCAQEA1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST\n" * 3
    + "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("secret", "marker"),
    [
        (OPENAI_KEY, "sk-***"),
        (ANTHROPIC_KEY, "sk-***"),
        ("sk-" + "a1" * 12, "sk-***"),
        (AWS_ID, "AKIA***"),
        (AWS_TEMP_ID, "ASIA***"),
        (GITHUB, "ghp_***"),
        ("gho_" + "x9" * 18, "gho_***"),
        (GITHUB_PAT, "gith***"),
        (SLACK, "xoxb***"),
        (GOOGLE, "AIza***"),
        (JWT, "eyJ***"),
        ("Bearer abcdefghijklmnop1234", "Bearer ***"),
        ("bearer " + JWT, "bearer ***"),
        ("Bearer\tya29.a0AfH6SMBxyzxyzxyzxyzxyz-abc", "Bearer ***"),
        (PEM, "***PRIVATE KEY***"),
    ],
)
def test_value_patterns(secret: str, marker: str) -> None:
    text = f"before {secret} after"
    masked = mask_string(text)
    assert masked == f"before {marker} after"
    # never more than a 4-character prefix of the secret survives
    body = secret.split(None, 1)[-1] if secret.lower().startswith("bearer") else secret
    assert body[4:12] not in masked


@pytest.mark.parametrize(
    "text",
    [
        "task-management-system-for-everyone",  # "sk-" inside a word
        "sk-learn-is-a-library-for-python",  # no digit
        "sk-short1",
        "risk-1234567890abcdefghijk",
        "the bearer of bad news",
        "Bearer short",
        "AKIA is not enough",
        "AKIAIOSFODNN7EXAMPLEX",  # 17 chars after AKIA: not an access key id
        "eyJ alone",
        "ghp_short",
        "123e4567-e89b-12d3-a456-426614174000",
        "claude-3-5-sonnet-20241022",
        "https://api.example.com/v1/chat/completions?model=gpt-4o",
        "-----BEGIN PUBLIC KEY-----",
        "",
    ],
)
def test_value_patterns_not_masked(text: str) -> None:
    assert mask_string(text) == text


def test_mask_string_multiple() -> None:
    text = f"k1={OPENAI_KEY} k2={AWS_ID}, header: Bearer {GITHUB}"
    assert mask_string(text) == "k1=sk-*** k2=AKIA***, header: Bearer ***"


def test_mask_string_never_raises() -> None:
    class Evil(str):
        def __len__(self) -> int:
            raise RuntimeError

    assert mask_string(Evil("x")) == REDACTED


# --------------------------------------------------------------------------------------
# mask_secrets
# --------------------------------------------------------------------------------------


def test_mask_secrets_nested() -> None:
    value = {
        "user": "ann",
        "api_key": "abc",
        "nested": [{"password": "p", "ok": 1}, ("t", OPENAI_KEY)],
        "credentials": {"user": "u", "pass": "p"},
        "token": None,
        "auth": True,
        "tags": {"x", "y"},
        1: "int key",
    }
    original = json.dumps(value, default=sorted)
    result = mask_secrets(value)
    assert result == {
        "user": "ann",
        "api_key": REDACTED,
        "nested": [{"password": REDACTED, "ok": 1}, ("t", "sk-***")],
        "credentials": REDACTED,
        "token": None,
        "auth": True,
        "tags": {"x", "y"},
        1: "int key",
    }
    assert json.dumps(value, default=sorted) == original  # not mutated


def test_mask_secrets_cycles_and_depth() -> None:
    d: dict[str, Any] = {"password": "x"}
    d["self"] = d
    assert mask_secrets(d) == {"password": REDACTED, "self": "<cycle>"}
    deep: list[Any] = []
    cur = deep
    for _ in range(10_000):
        nxt: list[Any] = []
        cur.append(nxt)
        cur = nxt
    cur.append({"token": "t"})
    result = mask_secrets(deep)
    for _ in range(10_000):
        result = result[0]  # type: ignore[index]
    assert result == [{"token": REDACTED}]


def test_mask_secrets_leaves_and_objects() -> None:
    obj = object()
    assert mask_secrets(obj) is obj
    assert mask_secrets(OPENAI_KEY) == "sk-***"
    assert mask_secrets(5) == 5
    assert mask_secrets(frozenset({OPENAI_KEY})) == frozenset({"sk-***"})


def test_mask_secrets_fails_closed() -> None:
    class Evil(dict[str, Any]):
        def __len__(self) -> int:
            raise RuntimeError

    # dict.items on a subclass works; an exploding iteration must not leak
    class Exploding(list[Any]):
        def __iter__(self) -> Iterator[Any]:
            raise RuntimeError

    assert mask_secrets(Exploding([1])) == REDACTED


# --------------------------------------------------------------------------------------
# detectors are supersets of the rules
# --------------------------------------------------------------------------------------


def test_fast_key_scan() -> None:
    assert fast_key_scan({"a": 1, "b": [1, {"c": "d"}]}) is False
    assert fast_key_scan({"a": [{"api_key": 1}]}) is True
    assert fast_key_scan([1, (2, {"password": None})]) is True
    assert fast_key_scan({1: "non-str key"}) is True
    assert fast_key_scan({"a": object()}) is True
    assert fast_key_scan(object()) is True
    assert fast_key_scan("plain") is False
    assert fast_key_scan({"max_tokens": 5, "prompt_tokens": 3}) is False


@pytest.mark.parametrize(
    "secret",
    [OPENAI_KEY, ANTHROPIC_KEY, AWS_ID, GITHUB, GITHUB_PAT, SLACK, GOOGLE, JWT, PEM],
)
def test_json_detector_finds_every_pattern(secret: str) -> None:
    for text in (secret, f"x {secret} y", f"\n{secret}\t", f'"{secret}"', f"\x01{secret}"):
        data = json.dumps({"v": text}, ensure_ascii=False, separators=(",", ":")).encode()
        assert json_may_contain_secret_value(data), text


def test_json_detector_bearer_with_escaped_whitespace() -> None:
    for sep in (" ", "\t", "\n", "\x0b", "  \t  "):
        data = json.dumps({"h": f"Bearer{sep}abcdefghijklmnop1234"}).encode()
        assert json_may_contain_secret_value(data), repr(sep)


def test_json_detector_negative() -> None:
    data = json.dumps(
        {"query": "What is the weather in Paris?", "max_tokens": 5, "id": "u-1"}
    ).encode()
    assert json_may_contain_secret_value(data) is False


token_chars = st.text(
    alphabet='abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+= \t\n\x0b"\\é',
    max_size=80,
)


@settings(max_examples=400, deadline=None)
@given(
    prefix=token_chars,
    suffix=token_chars,
    secret=st.sampled_from(
        [OPENAI_KEY, AWS_ID, GITHUB, SLACK, GOOGLE, JWT, "Bearer abcdefghijklmnop1234", PEM]
    ),
)
def test_detector_is_superset_of_masking(prefix: str, suffix: str, secret: str) -> None:
    text = prefix + secret + suffix
    if mask_string(text) != text:
        for ensure_ascii in (False, True):
            data = json.dumps([text], ensure_ascii=ensure_ascii).encode()
            assert json_may_contain_secret_value(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_key_detection_consistent_with_walker(key: str) -> None:
    value = {key: "v"}
    if is_secret_key(key):
        assert fast_key_scan(value)


# --------------------------------------------------------------------------------------
# integration with to_json, both implementations
# --------------------------------------------------------------------------------------


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = use_orjson(request.param == "orjson")
    try:
        yield request.param
    finally:
        use_orjson(previous)


@pytest.mark.usefixtures("implementation")
def test_to_json_masks_keys_and_values() -> None:
    value = {
        "api_key": "abc123",
        "headers": {"Authorization": f"Bearer {JWT}", "X-API-Key": "k"},
        "max_tokens": 100,
        "prompt": f"use key {OPENAI_KEY} please",
        "author": "me",
        "nested": [{"client_secret": "cs", "tokens": 3}],
    }
    text, truncated = to_json(value)
    result = json.loads(text)
    assert result == {
        "api_key": "***",
        "headers": {"Authorization": "***", "X-API-Key": "***"},
        "max_tokens": 100,
        "prompt": "use key sk-*** please",
        "author": "me",
        "nested": [{"client_secret": "***", "tokens": 3}],
    }
    assert truncated is False
    for leaked in ("abc123", JWT[:20], OPENAI_KEY[8:], 'cs"'):
        assert leaked not in text


@pytest.mark.usefixtures("implementation")
def test_to_json_masks_secret_in_key() -> None:
    text, _ = to_json({OPENAI_KEY: 1})
    assert json.loads(text) == {"sk-***": 1}


@pytest.mark.usefixtures("implementation")
def test_to_json_secret_values_in_plain_strings() -> None:
    for secret in (OPENAI_KEY, AWS_ID, GITHUB, SLACK, GOOGLE, JWT, PEM):
        text, _ = to_json(secret)
        assert secret[5:] not in text
        text, _ = to_json([1, {"note": f"line\n{secret}"}])
        assert secret[5:] not in text


@pytest.mark.usefixtures("implementation")
def test_to_json_masking_off() -> None:
    value = {"api_key": "abc", "s": OPENAI_KEY}
    text, _ = to_json(value, SerializeOptions(mask_secrets=False))
    assert json.loads(text) == value


@pytest.mark.usefixtures("implementation")
def test_redact_hook_with_masking() -> None:
    def hook(value: object) -> object:
        assert isinstance(value, dict)
        return {k: v for k, v in value.items() if k != "ssn"}

    text, _ = to_json(
        {"ssn": "123-45-6789", "password": "p", "q": "hi"}, SerializeOptions(redact=hook)
    )
    assert json.loads(text) == {"password": "***", "q": "hi"}


@pytest.mark.usefixtures("implementation")
def test_redact_hook_failure_never_leaks() -> None:
    calls = []

    def hook(value: object) -> object:
        calls.append(value)
        raise ValueError("nope")

    text, _ = to_json({"anything": "private data"}, SerializeOptions(redact=hook))
    assert json.loads(text) == "<redaction failed>"
    assert calls


@pytest.mark.usefixtures("implementation")
def test_secret_inside_binary_bytes_is_masked() -> None:
    import base64

    data = b"\xff\xfe header " + OPENAI_KEY.encode() + b" \x00 tail"
    text, _ = to_json({"blob": data})
    decoded = base64.b64decode(json.loads(text)["blob"]["__bytes__"])
    assert OPENAI_KEY.encode() not in decoded
    assert b"sk-***" in decoded


# --------------------------------------------------------------------------------------
# credentials in text: URLs, KEY=VALUE, 'KEY': 'VALUE'
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:S3cret@db/prod", "postgresql://app:***@db/prod"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "https://x-access-token:abc123@github.com/o/r.git",
            "https://x-access-token:***@github.com/o/r.git",
        ),
        ("https://h/p?user=bob&password=pw1&page=2", "https://h/p?user=bob&password=***&page=2"),
        ("https://h/cb?access_token=abc&state=x", "https://h/cb?access_token=***&state=x"),
        ("GET /v1?api_key=k1;x", "GET /v1?api_key=***;x"),
        ("host=db user=app password=pw dbname=prod", "host=db user=app password=*** dbname=prod"),
        ("OPENAI_API_KEY=abc DEBUG=1", "OPENAI_API_KEY=*** DEBUG=1"),
        ("connect(password=hunter2)", "connect(password=***)"),
        ("cfg {'password': 'pw', 'user': 'bob'}", "cfg {'password': '***', 'user': 'bob'}"),
        ('body {"client_secret": "cs", "n": 1}', 'body {"client_secret": "***", "n": 1}'),
        ('{"Authorization":"Basic dXNlcjpwdw=="}', '{"Authorization":"***"}'),
        (f"note={OPENAI_KEY}", "note=sk-***"),
    ],
)
def test_credentials_in_text(text: str, expected: str) -> None:
    assert mask_string(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://user@example.com/path",  # no password
        "http://localhost:8080/health",
        "a=b c=d",
        "max_tokens=512 tokens=5 token_count=3",
        "x = y",
        "{'role': 'user', 'content': 'hi'}",
        '{"auth_type": "basic"}',  # describes a secret, is not one
        "mailto:someone@example.com",
    ],
)
def test_credentials_not_masked(text: str) -> None:
    assert mask_string(text) == text


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=20),
    suffix=st.text(max_size=20),
    credential=st.sampled_from(
        [
            "mysql://u:pw@h/db",
            "?token=abc",
            "password=x",
            "'secret': 'v'",
            '"api_key": "v"',
            "Cookie=abc",
        ]
    ),
)
def test_detector_is_superset_for_credentials(prefix: str, suffix: str, credential: str) -> None:
    text = prefix + credential + suffix
    if mask_string(text) != text:
        for ensure_ascii in (False, True):
            data = json.dumps([text], ensure_ascii=ensure_ascii).encode()
            assert json_may_contain_secret_value(data), data


def test_to_json_masks_credentials_in_captured_values() -> None:
    text, _ = to_json({"dsn": "postgresql://app:pw@db/x", "q": "https://h/?token=t1"})
    assert json.loads(text) == {"dsn": "postgresql://app:***@db/x", "q": "https://h/?token=***"}


# --------------------------------------------------------------------------------------
# mask_text, mask_json_text, display_mask
# --------------------------------------------------------------------------------------


def test_mask_text_for_exceptions_and_unprintable_objects() -> None:
    assert mask_text(RuntimeError("key " + OPENAI_KEY)) == "key sk-***"

    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("no")

    assert mask_text(Unprintable()) == "<unprintable>"


def test_mask_json_text_is_structural_and_keeps_clean_text() -> None:
    assert mask_json_text('{"password": 1234, "n": 1}') == '{"password":"***","n":1}'
    clean = '{ "a" : [1, 2], "b": "text" }'
    assert mask_json_text(clean) is clean
    assert mask_json_text(f"not json {OPENAI_KEY}") == "not json sk-***"


def test_display_mask_is_the_one_display_form() -> None:
    assert display_mask(OPENAI_KEY) == "****" + OPENAI_KEY[-4:]
    assert display_mask("short-secret") == "****"
    assert display_mask("") == ""
    assert display_mask(None) == ""


# --------------------------------------------------------------------------------------
# exceptions recorded by the decorators
# --------------------------------------------------------------------------------------


def test_exception_message_and_traceback_are_masked(exported: Exported) -> None:
    @fluxloop.agent
    def run() -> None:
        raise RuntimeError(f"key {OPENAI_KEY} dsn postgresql://u:pw@h/db")

    with pytest.raises(RuntimeError) as info:
        run()
    assert OPENAI_KEY in str(info.value)  # what the user's code sees is untouched
    span = exported.named("invoke_agent run")
    assert span.status.description == "RuntimeError: key sk-*** dsn postgresql://u:***@h/db"
    (event,) = span.events
    attributes = dict(event.attributes or {})
    assert attributes["exception.type"] == "RuntimeError"
    assert attributes["exception.message"] == "key sk-*** dsn postgresql://u:***@h/db"
    stack = str(attributes["exception.stacktrace"])
    assert stack.startswith("Traceback") and "sk-***" in stack
    assert OPENAI_KEY not in stack and ":pw@" not in stack


def test_other_instrumentations_exceptions_are_masked_on_export(tmp_path: Path) -> None:
    """A span FluxLoop did not record (``Span.record_exception`` called by another library)
    goes through the processor's prepare hook: its exception event and status are masked."""
    provider = TracerProvider(shutdown_on_exit=False)
    processor = FluxLoopSpanProcessor(
        JsonlFileSpanExporter(tmp_path), prepare=Prepare(SerializeOptions())
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("third.party")
    try:
        with tracer.start_as_current_span("call upstream") as span:
            try:
                raise RuntimeError(f"rejected {OPENAI_KEY} at postgresql://u:pw@h/db")
            except RuntimeError as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"bad key {AWS_ID}"))
        processor.force_flush()
    finally:
        provider.shutdown()
    text = "".join(p.read_text() for p in tmp_path.glob("*.jsonl"))
    assert "sk-***" in text and ":***@h" in text
    for secret in (OPENAI_KEY, AWS_ID, ":pw@"):
        assert secret not in text


# --------------------------------------------------------------------------------------
# every span FluxLoop writes, whoever made it
# --------------------------------------------------------------------------------------


def _third_party_span_with_secrets(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("third.party")
    with tracer.start_as_current_span("chat", links=[]) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("api_key", OPENAI_KEY)
        span.set_attribute("gen_ai.prompt", f"use {OPENAI_KEY} please")
        span.set_attribute("llm.config", json.dumps({"credentials": {"user": "u", "pw": "x"}}))
        span.set_attribute("http.headers", (f"Authorization: Bearer {OPENAI_KEY[3:]}", "ok"))
        span.set_attribute("db.url", "postgresql://u:pw@h/db")
        span.add_event("retry", {"detail": f"retried with {AWS_ID}"})
    with tracer.start_as_current_span(f"call with {GITHUB}"):
        pass


def test_other_instrumentations_attributes_are_masked_on_export(tmp_path: Path) -> None:
    """Spans FluxLoop did not make (another instrumentation, the OpenTelemetry API) reach the
    JSONL files through FluxLoop's pipeline with every secret masked: secret keys, values in
    text and in JSON text, sequence items, event attributes, span names."""
    provider = TracerProvider(shutdown_on_exit=False)
    fluxloop.configure(tracer_provider=provider, storage="file", base_path=tmp_path)
    try:
        _third_party_span_with_secrets(provider)
        assert fluxloop.flush()
    finally:
        fluxloop.reset_config()
        provider.shutdown()
    text = "".join(p.read_text() for p in tmp_path.glob("*.jsonl"))
    assert '"api_key":"***"' in text and "sk-***" in text and "ghp_***" in text
    assert '\\"credentials\\":\\"***\\"' in text or '"credentials":"***"' in text
    for secret in (OPENAI_KEY, OPENAI_KEY[3:], AWS_ID, GITHUB, ":pw@", '"pw"'):
        assert secret not in text


def test_a_run_capture_masks_other_instrumentations_spans() -> None:
    """The runner's artifacts come from captured spans: they are masked the same way."""
    provider = TracerProvider(shutdown_on_exit=False)
    fluxloop.configure(tracer_provider=provider, storage="none")
    try:
        with fluxloop.sdk.capture_run({}) as capture:
            _third_party_span_with_secrets(provider)
        records = json.dumps([*capture.observations(), *capture.traces()])
    finally:
        fluxloop.reset_config()
        provider.shutdown()
    assert "sk-***" in records and "ghp_***" in records
    for secret in (OPENAI_KEY, AWS_ID, GITHUB, ":pw@"):
        assert secret not in records


def test_a_batch_masks_every_span_as_it_would_alone() -> None:
    """Long strings are screened for the batch at once; whatever sits next to what (secrets
    at group edges), each span comes out exactly as masked on its own."""
    from opentelemetry.sdk.trace import ReadableSpan

    from fluxloop.sdk._span_masking import mask_spans

    texts = [
        "a plain sentence that is long enough to be screened",
        f"key {OPENAI_KEY} inside",
        '{"api_key": "v", "other": 1}',
        "mysql://u:pw@h/db",
        "short=1",
        f"Bearer {OPENAI_KEY[3:]}",
        "x" * 40,
        '{"nested": {"token value": "plain", "auth header": ["a"]}}',
        '["no", "secret", {"here": 1}]',
    ]

    def spans() -> list[ReadableSpan]:
        return [
            ReadableSpan(name=f"s{i}", attributes={"text": texts[i % len(texts)], "n": i})
            for i in range(300)
        ]

    together = mask_spans(spans())
    alone = [mask_spans([span])[0] for span in spans()]
    assert [dict(s.attributes or {}) for s in together] == [dict(s.attributes or {}) for s in alone]
    # and each is what the one rule for a string attribute makes of it
    for index, span in enumerate(together):
        assert (span.attributes or {})["text"] == mask_attribute_text(texts[index % len(texts)])
    assert '"token value":"***"' in str([dict(s.attributes or {}) for s in together])
    assert sum(OPENAI_KEY[3:] in str(dict(s.attributes or {})) for s in together) == 0
    assert mask_spans(together) is together  # masked spans are not looked at again


@settings(max_examples=400)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "pass",
                    "PWD",
                    "Secret",
                    "token",
                    "auth",
                    "KEY",
                    "cookie",
                    "credential",
                    "bearer",
                    "jwt",
                    "=",
                    ":",
                    '"',
                    "'",
                    "\\",
                    " ",
                    "@",
                    "://",
                    "/",
                    "_",
                    "-",
                    ".",
                    "x",
                    "monkey",
                    "question",
                    '":',
                    "' :",
                    "mysql://u:p@h",
                ]
            ),
            st.text(max_size=4),
        ),
        max_size=14,
    )
)
def test_the_reversed_credential_search_agrees_with_the_pattern(parts: list[str]) -> None:
    from fluxloop.sdk.masking import _CRED_RE, has_credential

    data = "".join(parts).encode("utf-8", "surrogatepass")
    assert has_credential(data) == (_CRED_RE.search(data) is not None)


def test_span_masking_never_raises_and_fails_closed() -> None:
    """A span whose attributes cannot be read normally is still masked (or blanked), never
    raised into the export thread."""
    from opentelemetry.sdk.trace import ReadableSpan

    from fluxloop.sdk._span_masking import mask_spans

    class Hostile(dict[str, Any]):
        def items(self) -> Any:
            raise RuntimeError("no")

    good = ReadableSpan(name="ok", attributes={"token": "x", "n": 1})
    weird = ReadableSpan(name="weird", attributes={"a": 1})
    weird._attributes = Hostile({"api_key": OPENAI_KEY})
    masked = mask_spans([good, weird])
    assert dict(masked[0].attributes or {}) == {"token": "***", "n": 1}
    assert OPENAI_KEY not in str(dict(masked[1].attributes or {}))
