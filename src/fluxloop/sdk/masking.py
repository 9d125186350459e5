"""FluxLoop's one masking module: the rules that keep secrets out of artifacts and output.

Everything FluxLoop writes or prints goes through here: the SDK's serializer
(:func:`fluxloop.sdk._serialize.to_json` when ``SerializeOptions.mask_secrets`` is true), the
SDK's exception events (:func:`mask_text`), every span FluxLoop exports or captures, whoever made
it (:func:`mask_attributes` through ``fluxloop.sdk.mask_spans``, also the collector's and
``import otlp``'s ingest step), the recording writer, the runner's artifacts and config
snapshots, parse/evaluate/compare outputs, generated inputs, ``config show``, log lines
(:func:`mask_secrets`). Display of a configured
key (``config env``, ``status check``) uses :func:`display_mask`.

Masking by key (:func:`is_secret_key`)
    A key is split into lower-cased *segments* on every character that is not an ASCII
    letter or digit (``_ - . space / :`` …), on camelCase boundaries (``apiKey`` → ``api key``,
    ``APIKey`` → ``api key``) and between letters and digits. The key is secret when some
    segment (or two adjacent segments) is a *hit* that is not *exempt*:

    * hit words: ``password passwords passwd pwd passphrase secret secrets token apikey
      apikeys authorization auth cookie cookies credential credentials bearer jwt privatekey
      accesskey secretkey sessionkey clientsecret``, and any segment *ending* in ``token``,
      ``password``, ``passwd``, ``secret`` or ``apikey`` (``csrftoken``, ``dbpassword``);
    * hit pairs: ``api|private|access|secret|session|encryption|signing|master`` followed by
      ``key``/``keys`` (``api_key``, ``X-API-Key``, ``aws_secret_access_key``), ``client``
      followed by ``secret``/``secrets``;
    * exempt: a hit directly followed by a *metadata* segment (``count length size limit
      budget usage type types ids index url uri endpoint name names field path file expires
      expiry expiration ttl enabled required mode method scheme provider kind format policy``
      …) — ``token_count``, ``auth_type``, ``secret_name``, ``password_policy`` describe a
      secret without being one; and a ``token`` hit that is a *count*: followed by the
      segment ``s`` (``tokenS``) or preceded by ``max min num n total prompt completion input
      output reasoning cached cache remaining used context``.

    So ``api_key apiKey X-API-Key user_token refresh_token Authorization db_password
    client_secret aws_secret_access_key Cookie`` are secret, and ``monkey author authority
    keyboard keynote secretary tokens max_tokens prompt_tokens total_tokens tokenizer
    token_count session_id key`` are not (``tokens`` is a count, never a credential).
    ``signature`` is deliberately not a hit: function and "thinking" signatures are content.

    A secret key's value is replaced by ``"***"`` whatever its type (a nested dict or list
    under ``credentials`` is replaced whole), except ``None`` and booleans, which reveal
    nothing.

Masking by value (:func:`mask_string`)
    Anywhere in any string (values and keys): OpenAI/Anthropic keys ``sk-…`` (≥ 20 characters
    after ``sk-``, at least one digit), AWS access key ids ``AKIA…``/``ASIA…``, GitHub tokens
    ``ghp_ gho_ ghu_ ghs_ ghr_ github_pat_``, Slack tokens ``xoxb- xoxp- xoxa- xoxo- xoxs-
    xoxr-``, Google API keys ``AIza…``, JWTs ``eyJ….eyJ….…``, ``Bearer <token>`` (1-8 blanks,
    a token with a run of ≥ 16 ``[A-Za-z0-9_-]`` in its first 80 characters; ``bearer`` in
    any case) and PEM private-key blocks (to their END line, or to the end of the text).
    The match is replaced by at most its first four characters, which are the fixed public
    scheme of the format, followed by ``***``:
    ``sk-***``, ``AKIA***``, ``ghp_***``, ``gith***``, ``xoxb***``, ``AIza***``, ``eyJ***``,
    ``Bearer ***`` and ``***PRIVATE KEY***``; no secret character is ever kept.

    Credentials in text (the same function, so exception messages, tracebacks, URLs in
    configs and log lines are all covered): the password of a URL's userinfo
    (``postgresql://app:pw@db/x`` → ``postgresql://app:***@db/x``), the value of a
    ``KEY=VALUE`` pair whose key is secret by the key rule (query parameters
    ``?password=…&token=…``, libpq ``password=…``, ``API_KEY=…`` in an env dump), and the
    value of a quoted ``'KEY': 'VALUE'`` / ``"KEY": "VALUE"`` pair (a dict's ``repr`` or
    JSON inside a message) whose key is secret.

Display (:func:`display_mask`)
    The one way FluxLoop shows a configured secret to a human: ``****`` followed by its last
    four characters when it has at least 20 (``****a1b2``, enough to tell two keys apart),
    else ``****``.

Fast detection
    :func:`dict_keys_need_walk` checks the keys of one dict through :data:`SAFE_KEY_CACHE`
    (keys already known not to be secret: one C-level ``issuperset`` for a dict of known
    keys); :func:`fast_key_scan` applies it to a whole plain value; and
    :func:`json_may_contain_secret_value` looks at serialized JSON for the value patterns
    (every one of them contains a run of ≥ 16 ``[A-Za-z0-9_-]`` characters, found with one
    ``bytes.translate`` and one substring search; only such runs are then looked at). They
    are *supersets* of the rules above: when they answer "no" there is nothing to mask, so
    the serializer's fast path skips the masking walk (a property test checks that the fast
    path and the full walk always agree).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from fluxloop_exporters.jsoncodec import loads

__all__ = [
    "REDACTED",
    "SAFE_KEY_CACHE",
    "dict_keys_need_walk",
    "display_mask",
    "fast_key_scan",
    "is_secret_key",
    "json_may_contain_secret_value",
    "json_text_has_secret_key",
    "mask_attribute_text",
    "mask_attributes",
    "mask_json_text",
    "mask_name",
    "mask_secrets",
    "mask_string",
    "mask_text",
    "text_may_contain_secret_many",
]

REDACTED = "***"
"""What the value of a secret key becomes."""

# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------

_SEGMENT_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

_HIT_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "apikey",
        "apikeys",
        "authorization",
        "auth",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "bearer",
        "jwt",
        "privatekey",
        "accesskey",
        "secretkey",
        "sessionkey",
        "clientsecret",
    }
)
_HIT_SUFFIXES = ("token", "password", "passwd", "secret", "apikey")
_PAIR_FIRST_KEY = frozenset(
    {"api", "private", "access", "secret", "session", "encryption", "signing", "master"}
)
_PAIRS = frozenset(
    {(first, second) for first in _PAIR_FIRST_KEY for second in ("key", "keys")}
    | {("client", "secret"), ("client", "secrets")}
)
_METADATA = frozenset(
    {
        "count",
        "counts",
        "num",
        "number",
        "len",
        "length",
        "size",
        "limit",
        "limits",
        "budget",
        "usage",
        "used",
        "remaining",
        "type",
        "types",
        "ids",
        "index",
        "indices",
        "url",
        "urls",
        "uri",
        "endpoint",
        "endpoints",
        "name",
        "names",
        "field",
        "fields",
        "path",
        "file",
        "expires",
        "expiry",
        "expiration",
        "ttl",
        "enabled",
        "required",
        "mode",
        "method",
        "methods",
        "scheme",
        "provider",
        "kind",
        "format",
        "policy",
        "logprobs",
        "logprob",
        "estimate",
    }
)
_COUNT_PREFIXES = frozenset(
    {
        "max",
        "min",
        "num",
        "n",
        "total",
        "prompt",
        "completion",
        "input",
        "output",
        "reasoning",
        "cached",
        "cache",
        "remaining",
        "used",
        "context",
    }
)


def _segments_are_secret(segments: list[str]) -> bool:
    count = len(segments)
    for index, segment in enumerate(segments):
        if segment in _HIT_WORDS or segment.endswith(_HIT_SUFFIXES):
            end = index + 1
        elif index + 1 < count and (segment, segments[index + 1]) in _PAIRS:
            end = index + 2
        else:
            continue
        following = segments[end] if end < count else ""
        if following in _METADATA:
            continue
        if end == index + 1 and segment.endswith("token"):
            if following == "s":
                continue
            if index > 0 and segments[index - 1] in _COUNT_PREFIXES:
                continue
        return True
    return False


@lru_cache(maxsize=4096)
def _is_secret_key_cached(key: str) -> bool:
    return _segments_are_secret([s.lower() for s in _SEGMENT_RE.findall(key)])


def is_secret_key(key: str) -> bool:
    """Whether a dict key (or attribute name) names a secret; see the module docstring."""
    try:
        if len(key) > 256:
            return _segments_are_secret([s.lower() for s in _SEGMENT_RE.findall(key)])
        return _is_secret_key_cached(key)
    except Exception:  # a str subclass with a hostile __hash__/__eq__: fail closed
        return True


# Fast, cached key checks for the serializer's fast path: keys known not to be secret
# (exact str, at most 128 characters).
SAFE_KEY_CACHE: set[str] = set()
"""Exact ``str`` keys (at most 128 characters) known not to be secret; cleared when full."""
_SAFE_KEY_CACHE_MAX = 4096
_SAFE_KEY_LENGTH = 128
_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def dict_keys_need_walk(node: dict[Any, Any], max_length: int, check_secrets: bool) -> bool:
    """Whether some key of ``node`` is not an exact ``str``, is longer than ``max_length``,
    or (with ``check_secrets``) is a secret key. Uses a cache of known non-secret keys."""
    safe = SAFE_KEY_CACHE
    if max_length >= _SAFE_KEY_LENGTH and safe.issuperset(node):
        return False
    for key in node:
        if type(key) is not str or len(key) > max_length:
            return True
        if key in safe:
            continue
        if is_secret_key(key):
            if check_secrets:
                return True
        elif len(key) <= _SAFE_KEY_LENGTH:
            if len(safe) >= _SAFE_KEY_CACHE_MAX:
                safe.clear()
            safe.add(key)
    return False


def fast_key_scan(value: object) -> bool:
    """Whether ``value`` needs the slow masking walk.

    True when a dict anywhere in ``value`` has a secret key (or a non-``str`` key), or when
    the value holds anything but exact ``dict list tuple str int float bool None``
    (subclasses, enums and other types are left to the full walk). Never raises; answers
    True on doubt.
    """
    try:
        scalars = _PLAIN_SCALARS
        stack: list[object] = [value]
        pop = stack.pop
        push = stack.append
        while stack:
            node = pop()
            node_type = type(node)
            if node_type is dict:
                if dict_keys_need_walk(node, sys.maxsize, True):  # type: ignore[arg-type]
                    return True
                items: Iterable[object] = node.values()  # type: ignore[attr-defined]
            elif node_type is list or node_type is tuple:
                items = node  # type: ignore[assignment]
            elif node_type in scalars:
                continue
            else:
                return True
            for item in items:
                item_type = type(item)
                if item_type in scalars:
                    continue
                if item_type is dict or item_type is list or item_type is tuple:
                    push(item)
                else:
                    return True
        return False
    except Exception:
        return True


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------

_json_loads: Callable[[str], Any] = loads

_TOKEN = r"[A-Za-z0-9_-]"
_KEY_CHARS = r"[A-Za-z0-9_.-]"
_VALUE_RE = re.compile(
    r"(?P<sk>\bsk-(?=" + _TOKEN + r"{20})(?=" + _TOKEN + r"*[0-9])" + _TOKEN + r"+)"
    r"|(?P<aws>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"
    r"|(?P<gh>\bgh[pousr]_[A-Za-z0-9]{30,})"
    r"|(?P<ghpat>\bgithub_pat_[A-Za-z0-9_]{22,})"
    r"|(?P<slack>\bxox[abposr]-[A-Za-z0-9-]{11,})"
    r"|(?P<google>\bAIza[0-9A-Za-z_-]{35})"
    r"|(?P<jwt>\beyJ" + _TOKEN + r"{13,}\.eyJ" + _TOKEN + r"{5,}\.[A-Za-z0-9_.-]*)"
    r"|(?P<bearer>\b(?P<scheme>[Bb][Ee][Aa][Rr][Ee][Rr])\s{1,8}"
    r"(?=[A-Za-z0-9._~+/=-]{0,64}?" + _TOKEN + r"{16})[A-Za-z0-9._~+/=-]+)"
    r"|(?P<pem>-----BEGIN[A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END[A-Z ]*PRIVATE KEY-----|\Z))"
    # scheme://user:PASSWORD@host
    r"|(?P<url>(?P<urlhead>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@'\"<>\\]*:)"
    r"[^\s/?#@'\"<>\\]+@)"
    # KEY=VALUE (query parameters, libpq, env dumps); masked only when KEY is secret
    r"|(?P<kv>(?<![A-Za-z0-9_.-])(?P<kvkey>[A-Za-z_]" + _KEY_CHARS + r"{0,63})="
    r"(?P<kvval>[^\s&#'\"<>,;()\[\]{}]+))"
    # 'KEY': 'VALUE' / "KEY": "VALUE" (a dict's repr, JSON in a message); same rule
    r"|(?P<kq>(?P<kqkey>(?P<kqq>['\"])[A-Za-z_]" + _KEY_CHARS + r"{0,63}(?P=kqq) ?:\s{0,4})"
    r"(?P<kqval>'(?:[^'\\\n]|\\.){0,4096}'|\"(?:[^\"\\\n]|\\.){0,4096}\"))",
    re.ASCII,
)


def _value_marker(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "bearer":
        return f"{match.group('scheme')} {REDACTED}"
    if kind == "pem":
        return f"{REDACTED}PRIVATE KEY{REDACTED}"
    if kind == "sk":
        return f"sk-{REDACTED}"
    if kind == "jwt":
        return f"eyJ{REDACTED}"
    if kind == "url":
        return f"{match.group('urlhead')}{REDACTED}@"
    if kind == "kv":
        key, value = match.group("kvkey"), match.group("kvval")
        if value.startswith(REDACTED):  # already masked, or a display mask (****a1b2)
            return match.group()
        if is_secret_key(key):
            return f"{key}={REDACTED}"
        return f"{key}={_VALUE_RE.sub(_value_marker, value)}"
    if kind == "kq":
        head, value = match.group("kqkey"), match.group("kqval")
        if value[1:].startswith(REDACTED):
            return match.group()
        if is_secret_key(head.strip(" :'\"")):
            return f"{head}{value[0]}{REDACTED}{value[0]}"
        return head + _VALUE_RE.sub(_value_marker, value)
    return match.group()[:4] + REDACTED


def mask_string(text: str) -> str:
    """``text`` with every secret-looking value and credential replaced (see the module
    docstring). Never raises: on an internal error the result is ``"***"``."""
    try:
        if not _text_may_contain_secret(text):
            return text
        return _VALUE_RE.sub(_value_marker, text)
    except Exception:
        return REDACTED


def mask_text(text: object) -> str:
    """``str(text)`` masked by :func:`mask_string`: for exception messages, tracebacks, log
    lines and error messages. Never raises (a failing ``__str__`` gives ``"<unprintable>"``)."""
    try:
        value = text if type(text) is str else str(text)
    except Exception:
        return "<unprintable>"
    return mask_string(value)


def mask_json_text(text: str) -> str:
    """A JSON document's text with secrets masked structurally (secret keys whatever their
    value's type, and every string); ``text`` itself when nothing needed masking, and
    :func:`mask_string` of it when it is not JSON. Never raises."""
    try:
        try:
            value = _json_loads(text)
        except (ValueError, RecursionError):
            return mask_string(text)
        if not fast_key_scan(value) and not json_may_contain_secret_value(
            text.encode("utf-8", "surrogatepass")
        ):
            return text
        masked = mask_secrets(value)
        if masked == value:
            return text
        return json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
    except Exception:
        return REDACTED


def mask_attribute_text(text: str) -> str:
    """A string attribute value masked: JSON text (``{``/``[``) structurally by
    :func:`mask_json_text`, anything else by :func:`mask_string`. Never raises."""
    if text[:1] in ("{", "["):
        return mask_json_text(text)
    return mask_string(text)


def mask_attributes(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """OpenTelemetry attributes masked: a secret key's value becomes ``"***"`` (``None`` and
    booleans reveal nothing and stay), strings by :func:`mask_attribute_text`, the strings of a
    sequence likewise, secret-looking text in a key by :func:`mask_string`. Bytes are left as
    they are (FluxLoop's deferred content is checked where it is resolved). The same mapping
    when nothing changed. Never raises (a value that cannot be masked becomes ``"***"``)."""
    out: dict[str, Any] | None = None
    for position, (key, value) in enumerate(attributes.items()):
        name = mask_name(key)
        try:
            if value is None or type(value) is bool or type(value) is bytes:
                new: Any = value
            elif is_secret_key(key):
                new = REDACTED
            elif type(value) is str:
                new = mask_attribute_text(value)
            elif isinstance(value, tuple | list):
                items = [mask_attribute_text(v) if type(v) is str else v for v in value]
                new = value if items == list(value) else tuple(items)
            else:
                new = value
        except Exception:
            new = REDACTED
        if out is None and (new is not value or name is not key):
            out = dict(list(attributes.items())[:position])
        if out is not None:
            out[name] = new
    return attributes if out is None else out


@lru_cache(maxsize=4096)
def mask_name(text: str) -> str:
    """A span, event or attribute name masked by :func:`mask_string`, the same object when
    unchanged (names repeat across spans: each is checked once)."""
    masked = mask_string(text)
    return text if masked == text else masked


def json_text_has_secret_key(text: str) -> bool:
    """Whether JSON text ``text`` has a secret key anywhere (what :func:`mask_json_text` masks
    structurally, whatever the key's characters); False when it is not JSON (:func:`mask_string`
    then applies, which :func:`text_may_contain_secret_many` screens). True on doubt."""
    try:
        value = _json_loads(text)
    except (ValueError, RecursionError):
        return False
    except Exception:
        return True
    return fast_key_scan(value)


def text_may_contain_secret_many(texts: Sequence[str]) -> bool:
    """Whether :func:`mask_string` might change any of ``texts``: one superset test over their
    concatenation (each pattern needs no anchor, and the NUL between two texts ends every token
    run, so a secret in one text shows in the whole). False means nothing to mask, for JSON text
    too once :func:`json_text_has_secret_key` said no."""
    try:
        data = "\0".join(texts).encode("utf-8", "surrogatepass")
        if json_may_contain_secret_value(data):
            return True
        # raw text shows quotes unescaped: "KEY": "VALUE" (JSON bytes show \"KEY\": …)
        return (b'":' in data or b'" :' in data) and has_credential(data)
    except Exception:
        return True


def display_mask(value: str | None) -> str:
    """How a configured secret is shown to a human: ``****`` and its last four characters
    when it has at least 20 (so two keys can be told apart), else ``****``."""
    if not value:
        return ""
    if len(value) >= 20:
        return "****" + value[-4:]
    return "****"


def _text_may_contain_secret(text: str) -> bool:
    if len(text) < 16 and "=" not in text and "@" not in text and ":" not in text:
        return False
    return text_may_contain_secret_many((text,))


# Detection in serialized JSON (bytes). Every value pattern implies a run of >= 16
# [A-Za-z0-9_-]; JSON never escapes those characters, so the run shows in the text too.
# Every credential form needs one of "=" (KEY=VALUE), "@" (URL userinfo), "'" or "\" (a
# quoted 'KEY': or an escaped \"KEY\": inside a JSON string): the same one-pass translation
# marks them "b", so text with neither a run nor such a byte is ruled out at once.
_RUN_TABLE = bytes(
    0x61
    if (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c in b"_-")
    else 0x62
    if c in b"=@'\\"
    else 0x20
    for c in range(256)
)
_RUN16 = b"a" * 16
# In-run schemes, loose (no boundaries, no digit rule): a superset of _VALUE_RE.
_IN_RUN_RE = re.compile(
    rb"sk-[A-Za-z0-9_-]{20}|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30}"
    rb"|github_pat_[A-Za-z0-9_]{22}|xox[abposr]-[A-Za-z0-9-]{11}|AIza[0-9A-Za-z_-]{35}"
    rb"|eyJ[A-Za-z0-9_-]{13}"
)
# Credentials (URL userinfo, KEY=VALUE, 'KEY': VALUE): a secret key contains one of these
# words (every hit word, suffix and pair of the key rule does), so this is a superset. Searched
# in the lower-cased text *reversed*: a match then starts at its terminator ("=", ":", "@"),
# which the regex engine finds by a fast scan for those characters, instead of trying the ten
# words at every position (four times faster on JSON text). _CRED_RE is the same pattern the
# right way round, kept as the definition (a test checks the two agree).
_CRED_RE = re.compile(
    rb"(?i)(?:pass|pwd|secret|token|auth|key|cookie|credential|bearer|jwt)[A-Za-z0-9_.-]*"
    rb"(?:=|\\?['\"]\s*:)"
    rb"|://[^\s/?#@]*:[^\s/?#@]*@"
)
_CRED_REVERSED_RE = re.compile(
    rb"(?:=|:\s*['\"]\\?)[a-z0-9_.-]*?"
    rb"(?:ssap|dwp|terces|nekot|htua|yek|eikooc|laitnederc|reraeb|twj)"
    rb"|@[^\s/?#@]*:[^\s/?#@]*//:"
)


def has_credential(data: bytes) -> bool:
    """Whether ``data`` matches :data:`_CRED_RE` (a credential may be in it)."""
    return _CRED_REVERSED_RE.search(data.lower()[::-1]) is not None


def _may_contain_credentials(data: bytes) -> bool:
    if (
        b"=" in data
        or (b"@" in data and b"://" in data)
        or b"':" in data
        or b"' :" in data
        or b'\\":' in data
        or b'\\" :' in data
    ):
        return has_credential(data)
    return False


def json_may_contain_secret_value(data: bytes) -> bool:
    """Whether serialized JSON may contain a value :func:`mask_string` would mask.

    A cheap superset test: False means certainly nothing to mask.
    """
    try:
        runs = data.translate(_RUN_TABLE)
        if b"b" in runs and _may_contain_credentials(data):
            return True
        start = runs.find(_RUN16)
        if start < 0:
            return False
        if b"PRIVATE KEY" in data:
            return True
        lowered: bytes | None = None
        while start >= 0:
            end = runs.find(b" ", start)
            other = runs.find(b"b", start, end if end >= 0 else len(runs))
            if other >= 0:
                end = other
            elif end < 0:
                end = len(runs)
            if _IN_RUN_RE.search(data, start, end) is not None:
                return True
            # "Bearer" sits before the token: at most 8 (escaped) blanks and 64 token-ish
            # characters that are not part of the 16-run.
            window_start = max(0, start - 128)
            if lowered is None:
                lowered = data.lower()
            if lowered.find(b"bearer", window_start, start) >= 0:
                return True
            start = runs.find(_RUN16, end)
        return False
    except Exception:
        return True


# --------------------------------------------------------------------------------------
# Masking plain values
# --------------------------------------------------------------------------------------


def _mask_leaf(value: object) -> object:
    if type(value) is str:
        return mask_string(value)
    if isinstance(value, str):
        return mask_string(str.__str__(value))
    return value


def mask_secrets(value: object) -> object:
    """A copy of ``value`` with secrets masked, by key and by value pattern.

    Walks dicts, lists, tuples, sets and frozensets (iteratively: any depth, cycles become
    ``"<cycle>"``); strings are masked by pattern; any other object is returned unchanged
    (use :func:`fluxloop.sdk._serialize.to_json` to serialize and mask arbitrary objects).
    Never mutates its argument and never raises: on an internal error the result is
    ``"***"`` (fail closed).
    """
    try:
        return _mask_walk(value)
    except Exception:
        return REDACTED


def _container_kind(value: object) -> str | None:
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, list):
        return "list"
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, (set, frozenset)):
        return "set"
    return None


class _MaskFrame:
    __slots__ = ("items", "kind", "out_dict", "out_list", "parent", "position", "slot", "source")

    def __init__(self, source: object, kind: str, parent: _MaskFrame | None, slot: object) -> None:
        self.source = source
        self.kind = kind
        self.parent = parent
        self.slot = slot
        self.position = 0
        self.out_dict: dict[object, object] = {}
        self.out_list: list[object] = []
        self.items: list[object]
        if kind == "dict":
            self.items = list(dict.items(source))  # type: ignore[arg-type]
        else:
            self.items = list(source)  # type: ignore[call-overload]

    def result(self) -> object:
        if self.kind == "dict":
            return self.out_dict
        if self.kind == "list":
            return self.out_list
        if self.kind == "tuple":
            return tuple(self.out_list)
        try:
            if isinstance(self.source, frozenset):
                return frozenset(self.out_list)
            return set(self.out_list)
        except TypeError:
            return self.out_list

    def put(self, slot: object, value: object) -> None:
        if self.kind == "dict":
            self.out_dict[slot] = value
        elif isinstance(slot, int):
            self.out_list[slot] = value


def _mask_walk(value: object) -> object:
    root_kind = _container_kind(value)
    if root_kind is None:
        return _mask_leaf(value)
    active: set[int] = {id(value)}
    frames = [_MaskFrame(value, root_kind, None, None)]
    result: object = None
    while frames:
        frame = frames[-1]
        if frame.position >= len(frame.items):
            frames.pop()
            active.discard(id(frame.source))
            done = frame.result()
            if frame.parent is None:
                result = done
            else:
                frame.parent.put(frame.slot, done)
            continue
        item = frame.items[frame.position]
        frame.position += 1
        slot: object
        if frame.kind == "dict":
            key: object
            key, item = item  # type: ignore[misc]
            if isinstance(key, str):
                text_key = key if type(key) is str else str.__str__(key)
                if is_secret_key(text_key) and item is not None and not isinstance(item, bool):
                    frame.out_dict[mask_string(text_key)] = REDACTED
                    continue
                key = mask_string(text_key)
            slot = key
            frame.out_dict[slot] = None
        else:
            slot = len(frame.out_list)
            frame.out_list.append(None)
        child_kind = _container_kind(item)
        if child_kind is None:
            frame.put(slot, _mask_leaf(item))
        elif id(item) in active:
            frame.put(slot, "<cycle>")
        else:
            active.add(id(item))
            frames.append(_MaskFrame(item, child_kind, frame, slot))
    return result
