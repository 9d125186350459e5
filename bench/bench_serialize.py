"""Micro-benchmark of fluxloop.sdk._serialize.to_json (µs per call; no assertions).

Run: ``.venv/bin/python bench/bench_serialize.py``. Prints, for a ~220-byte dict with and
without a secret key, the cost of ``to_json`` with orjson and with the stdlib fallback, next
to bare ``orjson.dumps`` / ``json.dumps`` of the same value as baselines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from fluxloop.sdk import _serialize
from fluxloop.sdk._serialize import to_json

PLAIN = {
    "query": "What is the weather in Paris today?",
    "user_id": "u-12345",
    "session": "s-67890",
    "options": {"temperature": 0.7, "max_tokens": 256, "model": "gpt-4o-mini"},
    "history": ["hi", "hello there"],
    "n": 3,
}
WITH_SECRET = {**PLAIN, "api_key": "sk-proj-abc123def456"}
del WITH_SECRET["history"]


def per_call_us(function: Callable[[], object], seconds: float = 0.5) -> float:
    """Best of five timed loops, in µs per call."""
    loops = 1000
    while True:  # calibrate
        start = time.perf_counter()
        for _ in range(loops):
            function()
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 5:
            break
        loops *= 2
    best = elapsed
    for _ in range(4):
        start = time.perf_counter()
        for _ in range(loops):
            function()
        best = min(best, time.perf_counter() - start)
    return best / loops * 1e6


def main() -> None:
    """Print the table."""
    print(
        f"payload sizes: plain {len(json.dumps(PLAIN))} B, with secret {len(json.dumps(WITH_SECRET))} B"
    )
    rows: list[tuple[str, float]] = []
    for use in (True, False):
        if use and not _serialize.ORJSON_AVAILABLE:
            continue
        _serialize.use_orjson(use)
        name = "orjson" if use else "json"
        for label, value in (("plain", PLAIN), ("secret", WITH_SECRET)):
            rows.append((f"to_json {name:6s} {label}", per_call_us(lambda v=value: to_json(v))))
    _serialize.use_orjson(True)
    if _serialize.ORJSON_AVAILABLE:
        import orjson

        rows.append(
            ("baseline orjson.dumps().decode()", per_call_us(lambda: orjson.dumps(PLAIN).decode()))
        )
    rows.append(("baseline json.dumps()", per_call_us(lambda: json.dumps(PLAIN))))
    for label, micros in rows:
        print(f"{label:36s} {micros:8.2f} us/call")


if __name__ == "__main__":
    main()
