"""``run experiment --resume DIR`` asks again for what the recorded invocation asked for."""

from __future__ import annotations

import json
from pathlib import Path

from fluxloop.runner.invocation import Invocation


def _record(directory: Path, invocation: object) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").write_text(json.dumps({"invocation": invocation}))


def test_resume_fills_what_was_not_given_again(tmp_path: Path) -> None:
    _record(
        tmp_path,
        {
            "config": "/p/setting.yaml",
            "iterations": 3,
            "inputs": "/p/inputs.yaml",
            "personas": ["a", "b"],
            "parallel": 4,
            "name": "old-name",
            "output_dir": "/old/out",
            "multi_turn": True,
            "max_turns": 5,
            "executor": "local",
            "ray_address": None,
        },
    )
    resumed = Invocation(parallel=8, name="new").resuming(tmp_path, config_given=False)
    assert resumed.config == "/p/setting.yaml"
    assert resumed.iterations == 3 and resumed.parallel == 8  # given again: the user's
    assert resumed.inputs == Path("/p/inputs.yaml") and resumed.personas == ["a", "b"]
    assert resumed.multi_turn is True and resumed.max_turns == 5 and resumed.executor == "local"
    # name and output directory are not taken over: a resume writes into DIR
    assert resumed.name == "new" and resumed.output_dir is None
    # a project named on the command line wins over the recorded config
    assert Invocation().resuming(tmp_path, config_given=True).config is None


def test_wrong_types_and_unreadable_files_count_as_not_given(tmp_path: Path) -> None:
    _record(tmp_path / "a", {"iterations": "3", "parallel": 2.5, "personas": "x", "config": ""})
    assert Invocation().resuming(tmp_path / "a", config_given=False) == Invocation()
    _record(tmp_path / "b", ["not", "a", "mapping"])
    assert Invocation.recorded(tmp_path / "b") == Invocation()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "summary.json").write_text("{torn")
    assert Invocation.recorded(tmp_path / "c") == Invocation()
    assert Invocation.recorded(tmp_path / "missing") == Invocation()
