"""Warnings belong to one command: two evaluations (and parses) in one process, as the pytest
plugin or a notebook does them, never share them (issue #15: a module-level list once carried
every earlier run's warnings into later summaries)."""

from __future__ import annotations

import json
from pathlib import Path

from fluxloop.analysis import evaluate_experiment, parse_experiment

from .conftest import build_original

TORN = '{"id": "torn", "trace_id": "abc'


def _experiment(root: Path, *, torn: bool) -> Path:
    directory = root / "experiments" / "exp_20251122_180035"
    build_original(directory)
    if torn:  # a run killed mid-write: the analysis skips the line with a warning
        with open(directory / "observations.jsonl", "a", encoding="utf-8") as fh:
            fh.write(TORN)
    return directory


def test_a_second_evaluation_has_none_of_the_first_ones_warnings(tmp_path: Path) -> None:
    first = evaluate_experiment(_experiment(tmp_path / "one", torn=True), no_llm=True)
    assert any("torn last line" in w for w in first.warnings), first.warnings
    assert first.summary["warnings"] == first.warnings[:50]
    written = json.loads((first.output_dir / "summary.json").read_text(encoding="utf-8"))
    assert written["warnings"] == first.summary["warnings"]

    second = evaluate_experiment(_experiment(tmp_path / "two", torn=False), no_llm=True)
    assert second.warnings == []
    assert second.summary["warnings"] == []
    written = json.loads((second.output_dir / "summary.json").read_text(encoding="utf-8"))
    assert written["warnings"] == []


def test_parse_returns_its_own_warnings(tmp_path: Path) -> None:
    first = parse_experiment(_experiment(tmp_path / "one", torn=True))
    assert any("torn last line" in w for w in first.warnings), first.warnings
    second = parse_experiment(_experiment(tmp_path / "two", torn=False))
    assert second.warnings == []
    # and an evaluation after them starts clean too
    assert (
        evaluate_experiment(_experiment(tmp_path / "three", torn=False), no_llm=True).warnings == []
    )
