"""``serve()``: run the viewer on uvicorn until Ctrl-C / SIGTERM."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxloop.errors import ConfigError

from .discovery import register, unregister
from .source import Root

__all__ = ["UiSettings", "effective_token", "is_loopback", "require_ui_extra", "serve"]

INSTALL_HINT = "pip install 'fluxloop[ui]'"


def require_ui_extra() -> None:
    """A one-line :class:`ConfigError` naming the pip command when the extra is missing."""
    try:
        import duckdb  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"fluxloop ui needs the optional 'ui' extra ({exc.name} is not installed): "
            f"{INSTALL_HINT}"
        ) from None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class UiSettings:
    """What ``fluxloop ui`` runs with."""

    path: Path = Path(".")
    """The served directory: a project, an experiment, or a folder holding experiments."""
    host: str = "127.0.0.1"
    """Interface to bind; anything but loopback requires a token."""
    port: int = 8765
    """Port (0: any free port)."""
    token: str | None = None
    """Required on every request; generated when binding beyond loopback without one."""


def effective_token(host: str, token: str | None) -> str | None:
    """The token requests must carry: the given one, else a generated one unless the viewer
    is bound to loopback only (then none is needed)."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        return socket.create_server((host, port), family=infos[0][0])
    except OSError as exc:
        raise ConfigError(
            f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}", key="port"
        ) from None


def serve(
    settings: UiSettings, *, on_ready: Callable[[Mapping[str, Any]], None] | None = None
) -> None:
    """Serve the viewer in this process until interrupted.

    ``on_ready`` receives ``url`` (with ``?token=`` when one is required), ``root`` and
    ``token`` once the socket listens.

    Raises:
        ConfigError: the extra is missing or the port cannot be bound.
        InputError: the path does not exist or is not a directory.
    """
    require_ui_extra()
    import uvicorn

    from fluxloop import __version__

    from .app import ViewerState, create_app

    root = Root.open(settings.path)
    loopback = is_loopback(settings.host)
    token = effective_token(settings.host, settings.token)
    sock = _bind(settings.host, settings.port)
    port = int(sock.getsockname()[1])
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{shown}:{port}"
    state = ViewerState(root, __version__)
    app = create_app(state, token=token, loopback=loopback)
    _ensure_log_handler()
    config = uvicorn.Config(
        app, lifespan="off", access_log=False, log_level="warning", server_header=False
    )
    server = uvicorn.Server(config)
    discovery = register(base, root.path, token)
    try:
        if on_ready is not None:
            url = f"{base}/?token={token}" if token else f"{base}/"
            on_ready({"url": url, "base": base, "root": str(root.path), "token": token})
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        unregister(discovery)
        sock.close()
        state.close()


def _ensure_log_handler() -> None:
    logger = logging.getLogger("fluxloop")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s fluxloop %(levelname)s %(message)s"))
        logger.addHandler(handler)
