"""The original pytest template's import line keeps working::

    from fluxloop_cli.testing.pytest_plugin import fluxloop_runner

(and ``pytest_plugins = ["fluxloop_cli.testing.pytest_plugin"]``). The fixtures are those of
:mod:`fluxloop.integrations.pytest_plugin`, which pytest also loads on its own (entry point
``fluxloop``): ``fluxloop_runner``, ``fluxloop_runner_multi_turn``, ``fluxloop_cli`` (with the
original's ``project_root=``, ``simulation_config=``, ``overrides=``, ``env=``, ``timeout=``).
"""

from __future__ import annotations

from fluxloop.integrations.pytest_plugin import (
    FluxLoopTestResult,
    fluxloop_cli,
    fluxloop_runner,
    fluxloop_runner_multi_turn,
)

__all__ = [
    "FluxLoopTestResult",
    "fluxloop_cli",
    "fluxloop_runner",
    "fluxloop_runner_multi_turn",
]
