"""Installing the interceptors (once per process): the HTTP transports and langchain-core.

A cassette session installs them when it opens; a run that took its tape to another process
(:mod:`~fluxloop.cassette.remote`) installs them there before its first call.
"""

from __future__ import annotations

from . import http

__all__ = ["install_interceptors"]

_installed = False


def install_interceptors() -> None:
    """Wrap the model-call entry points of this process (idempotent)."""
    global _installed
    if _installed:
        return
    http.install()
    # imported on first use, not with the package: langchain-core takes a good part of
    # a second to import, and the pytest plugin and the CLI import this package
    from . import langchain

    langchain.install()
    _installed = True
