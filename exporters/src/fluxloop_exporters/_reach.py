"""Is anything listening at an OTLP endpoint? A TCP connect, before the official exporter tries.

The official OTLP exporters retry a refused connection with backoff for their whole timeout (10 s
by default) and log every attempt. A connection refused answers in about a millisecond, so one
TCP connect tells a dead collector apart from a live one long before that: the spooling exporter
asks here first whenever it does not know the endpoint to be up.
"""

from __future__ import annotations

import errno
import socket
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = ["reachability_check"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(endpoint: str, protocol: str) -> tuple[str, int, str] | None:
    url = endpoint if "://" in endpoint else "http://" + endpoint
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    if port is None:
        port = 4317 if protocol == "grpc" else _DEFAULT_PORTS.get(scheme)
    if port is None:
        return None
    return parts.hostname, port, scheme


def _behind_proxy(host: str, scheme: str) -> bool:
    # through a proxy the TCP peer is the proxy, not the endpoint: no shortcut then
    proxies = urllib.request.getproxies()
    if not (proxies.get(scheme) or proxies.get("grpc") or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)


def _describe(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    return exc.strerror or type(exc).__name__


def reachability_check(
    endpoint: str, protocol: str, timeout: float
) -> Callable[[], str | None] | None:
    """A function returning ``None`` when a TCP connection to ``endpoint`` opens within
    ``timeout`` seconds, else a short reason (``"connection refused"``, ``"no answer"``,
    ``"unknown host"``). ``None`` (no check) when the endpoint cannot be parsed or a proxy sits
    in between."""
    target = _host_port(endpoint, protocol)
    if target is None:
        return None
    host, port, scheme = target
    if _behind_proxy(host, scheme):
        return None

    def check() -> str | None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as exc:
            return _describe(exc)

    return check
