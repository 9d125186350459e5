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


def test_validate_reports_generation_and_schema_problems_together(project: Path) -> None:
    edit_yaml(
        project / "setting.yaml",
        input_generation={"strategies": ["verbos"], "sed": 3},
    )
    done = fl("config", "validate", cwd=project)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert any(
        "input_generation.sed: unknown key (did you mean 'input_generation.seed'?)" in x
        for x in lines
    ), done.stderr
    assert any("unknown deterministic strategy 'verbos'" in x for x in lines), done.stderr
