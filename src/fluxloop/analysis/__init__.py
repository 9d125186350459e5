"""Analysis of FluxLoop traces: span trees, timelines, evaluation and comparison.

``parse_experiment``, ``evaluate_experiment`` and ``compare_experiments`` are the Python API of
``fluxloop parse|evaluate|compare``; they are imported on first use, so importing
:mod:`fluxloop.analysis.tree` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compare import compare_experiments
    from .evaluate import evaluate_experiment
    from .parse import parse_experiment

__all__ = ["compare_experiments", "evaluate_experiment", "parse_experiment"]

_LAZY = {
    "compare_experiments": ".compare",
    "evaluate_experiment": ".evaluate",
    "parse_experiment": ".parse",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
