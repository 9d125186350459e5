"""Where an experiment's runs execute: one interface, the in-process asyncio executor by default.

The experiment (``fluxloop.runner.engine``) plans the runs, submits them to an
:class:`~fluxloop.runner.executors.base.Executor` up to its capacity, writes each record as
its run completes and cancels what is in flight when it is interrupted. The executor decides
where a run executes: in this process (:mod:`.local`) or on a Ray cluster (:mod:`.ray`, loaded
only when chosen).
"""

from __future__ import annotations

from .base import Executor, RunFunction

__all__ = ["Executor", "RunFunction"]
