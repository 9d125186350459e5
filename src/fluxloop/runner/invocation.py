"""How an experiment was asked for, recorded in summary.json so ``--resume`` can ask again.

``fluxloop run experiment`` records the options it was given (``invocation`` in summary.json);
``--resume DIR`` reuses the recorded ones the user did not give again, so a resumed experiment
runs the same plan without retyping the command line.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxloop.project.config import ExperimentConfig
from fluxloop.project.layout import SUMMARY_FILE

__all__ = ["Invocation"]

#: options a resume takes over from the recorded invocation (the others are the user's call
#: again: a new name, output directory or collector setting)
_RESUMED = (
    "iterations",
    "inputs",
    "personas",
    "parallel",
    "multi_turn",
    "max_turns",
    "executor",
    "ray_address",
)


@dataclass
class Invocation:
    """The options of one ``run experiment`` (None: not given)."""

    config: str | None = None
    iterations: int | None = None
    inputs: Path | None = None
    personas: list[str] | None = None
    parallel: int | None = None
    name: str | None = None
    output_dir: Path | None = None
    no_collector: bool = False
    multi_turn: bool | None = None
    max_turns: int | None = None
    executor: str | None = None
    ray_address: str | None = None

    @classmethod
    def recorded(cls, directory: Path) -> Invocation:
        """The invocation in ``directory``/summary.json; values of the wrong type (a hand-edited
        or older file) and an unreadable file count as not given."""
        try:
            data = json.loads((directory / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        raw = data.get("invocation") if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            return cls()

        def typed(key: str, kind: type) -> Any:
            value = raw.get(key)
            return value if isinstance(value, kind) else None

        personas = typed("personas", list)
        return cls(
            config=str(raw["config"]) if raw.get("config") else None,
            iterations=typed("iterations", int),
            inputs=Path(str(raw["inputs"])) if raw.get("inputs") else None,
            personas=[str(p) for p in personas] if personas is not None else None,
            parallel=typed("parallel", int),
            multi_turn=typed("multi_turn", bool),
            max_turns=typed("max_turns", int),
            executor=typed("executor", str),
            ray_address=typed("ray_address", str),
        )

    def resuming(self, directory: Path, *, config_given: bool) -> Invocation:
        """These options completed by the ones recorded in ``directory`` (for ``--resume``);
        the recorded config is used only when no config or project was given."""
        previous = Invocation.recorded(directory)
        filled = {
            key: getattr(previous, key)
            for key in _RESUMED
            if getattr(self, key) is None and getattr(previous, key) is not None
        }
        if not config_given and self.config is None and previous.config:
            filled["config"] = previous.config
        return dataclasses.replace(self, **filled)

    def record(self, config: ExperimentConfig) -> dict[str, Any]:
        """The summary.json ``invocation`` block for a run of ``config`` (paths absolute)."""
        source = config.source
        return {
            "config": str(source.primary if source.layout == "single" else source.project_dir),
            "iterations": self.iterations,
            "inputs": str(self.inputs.resolve()) if self.inputs else None,
            "personas": self.personas,
            "parallel": self.parallel,
            "name": self.name,
            "output_dir": str(self.output_dir.resolve()) if self.output_dir else None,
            "no_collector": self.no_collector,
            "multi_turn": self.multi_turn,
            "max_turns": self.max_turns,
            "executor": self.executor,
            "ray_address": self.ray_address,
        }
