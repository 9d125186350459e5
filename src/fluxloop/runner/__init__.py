"""The experiment runner: config loading and validation, target resolution, inputs, argument
binding, the asyncio engine, artifacts and resume.

Everything the ``fluxloop`` CLI does lives here and is callable from Python; the CLI is a thin
Click layer on top. Dependencies point one way: ``fluxloop.cli`` -> ``fluxloop.runner`` ->
``fluxloop.sdk``.
"""

from __future__ import annotations

__all__: list[str] = []
