"""``check_health``: ask a running collector how it is (for ``fluxloop status check``)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["check_health"]


def check_health(url: str, api_key: str | None = None, timeout: float = 2.0) -> dict[str, Any]:
    """``GET {url}/health`` of a FluxLoop collector. Never raises.

    Args:
        url: the collector's base URL (``http://localhost:8000``); a trailing ``/health`` or
            ``/v1/traces`` is tolerated.
        api_key: sent as ``Authorization: Bearer``; the collector answers 401 if it is wrong.
        timeout: seconds to wait.

    Returns:
        The collector's answer (``status: "ok"``, ``version``, ``spans_received``,
        ``uptime_seconds``, ``output_dir``, …) plus ``url`` and ``latency_ms``; on failure
        ``{"status": "unreachable" | "unauthorized" | "error", "url": ..., "error": "one line"}``.
    """
    base = url.rstrip("/")
    for suffix in ("/health", "/v1/traces"):
        base = base.removesuffix(suffix)
    target = f"{base}/health"
    result: dict[str, Any] = {"url": base}
    if not target.startswith(("http://", "https://")):
        return {**result, "status": "error", "error": f"not an http(s) URL: {url!r}"}
    request = urllib.request.Request(target, headers={"Accept": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        status = "unauthorized" if exc.code == 401 else "error"
        return {**result, "status": status, "error": f"HTTP {exc.code} from {target}"}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return {**result, "status": "unreachable", "error": f"{target}: {reason}"}
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    try:
        body = json.loads(payload)
    except ValueError:
        return {**result, "status": "error", "error": f"{target} did not answer JSON"}
    if not isinstance(body, dict):
        return {**result, "status": "error", "error": f"{target} did not answer a JSON object"}
    return {**body, **result, "latency_ms": latency_ms}
