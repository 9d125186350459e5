"""`fluxloop config validate` checks input_generation the way `generate inputs` does."""

from __future__ import annotations

from pathlib import Path

from .conftest import edit_yaml, fl


def test_validate_reports_generation_settings(project: Path) -> None:
    done = fl("config", "validate", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "Generation" in done.stdout and "deterministic" in done.stdout


def test_validate_rejects_an_unknown_strategy_with_file_and_line(project: Path) -> None:
    edit_yaml(project / "setting.yaml", input_generation={"strategies": ["rephrase", "verbos"]})
    done = fl("config", "validate", cwd=project)
    assert done.returncode == 2
    assert "setting.yaml" in done.stderr and "verbos" in done.stderr
    assert "Traceback" not in done.stderr
