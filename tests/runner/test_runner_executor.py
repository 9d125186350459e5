"""Choosing the executor: config and command line, and a missing or too old Ray (no Ray needed).

The Ray executor itself runs on a real cluster in test_runner_ray.py (``make test-ray``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_process import fl

AGENT = "def run(input_text: str) -> str:\n    return input_text\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    (root / "agent.py").write_text(AGENT, encoding="utf-8")
    config = {"name": "exp", "base_inputs": ["a", "b"], "runner": {"target": "agent:run"}}
    (root / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def stub_ray(tmp_path: Path, body: str) -> dict[str, str]:
    """A ``ray`` package that shadows any installed one (PYTHONPATH comes first)."""
    pkg = tmp_path / "stub" / "ray"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body, encoding="utf-8")
    return {"PYTHONPATH": str(tmp_path / "stub")}


def test_ray_missing_is_one_line_exit_2_before_anything(project: Path, tmp_path: Path) -> None:
    env = stub_ray(tmp_path, "raise ImportError(\"No module named 'ray'\")\n")
    done = fl("run", "experiment", "--executor", "ray", cwd=project, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --executor ray: Ray is not installed; install it with: pip install 'fluxloop[ray]'"
    ]
    assert not (project / "experiments").exists()


def test_ray_too_old_is_one_line_exit_2(project: Path, tmp_path: Path) -> None:
    env = stub_ray(tmp_path, '__version__ = "2.4.0"\n')
    done = fl(
        "run", "experiment", "--executor", "ray", "--ray-address", "auto", cwd=project, env=env
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --executor ray: Ray 2.10+ is needed, found 2.4.0; upgrade with: "
        "pip install -U 'fluxloop[ray]'"
    ]
    assert not (project / "experiments").exists()


def test_executor_section_is_validated(project: Path) -> None:
    config = yaml.safe_load((project / "setting.yaml").read_text())
    config["runner"]["executor"] = {"type": "spark", "max_in_flight": 0}
    (project / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = fl("run", "experiment", cwd=project)
    assert done.returncode == 2
    assert "runner.executor.type: expected one of local, ray, found 'spark'" in done.stderr
    assert "runner.executor.max_in_flight: expected an integer >= 1, found 0" in done.stderr


def test_local_is_the_default_and_can_be_forced(project: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((project / "setting.yaml").read_text())
    config["runner"]["executor"] = {"type": "ray"}
    (project / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    # --executor local wins over the config, and Ray is never imported
    env = stub_ray(tmp_path, "raise RuntimeError('ray must not be imported')\n")
    done = fl("-q", "run", "experiment", "--executor", "local", cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads((Path(done.stdout.strip()) / "summary.json").read_text())
    assert "executor" not in summary  # the default executor leaves the summary as it was
    assert summary["invocation"]["executor"] == "local"  # what --resume will use again
