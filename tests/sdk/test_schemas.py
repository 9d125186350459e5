"""``fluxloop.schemas``: the original's names read this SDK's real records and configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from fluxloop.schemas import (
    ExperimentConfig,
    Observation,
    ObservationLevel,
    ObservationType,
    Score,
    ScoreDataType,
    Trace,
    TraceStatus,
    VariationStrategy,
)
from tests.cli_process import clean_env

APP = """
import sys
import fluxloop

fluxloop.configure(storage="file", base_path=sys.argv[1])

@fluxloop.tool()
def lookup(q):
    return {"hits": 1}

@fluxloop.agent()
def run(text):
    lookup(text)
    raise ValueError("boom")

with fluxloop.instrument("session", user_id="u1"):
    try:
        run("hi")
    except ValueError:
        pass
fluxloop.flush()
"""


def test_trace_and_observation_read_real_contract_records(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "traces")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (traces,) = (tmp_path / "traces").glob("traces_*.jsonl")
    (observations,) = (tmp_path / "traces").glob("observations_*.jsonl")
    trace = Trace.from_record(json.loads(traces.read_text().splitlines()[0]))
    assert trace.name == "session" and trace.user_id == "u1"
    assert trace.status in {TraceStatus.SUCCESS, TraceStatus.FAILED}
    assert trace.duration_ms() is not None and trace.duration_ms() >= 0  # type: ignore[operator]
    obs = [Observation.from_record(json.loads(x)) for x in observations.read_text().splitlines()]
    by_name = {o.name: o for o in obs}
    assert by_name["lookup"].type is ObservationType.TOOL
    assert by_name["run"].type is ObservationType.AGENT
    assert by_name["run"].level is ObservationLevel.ERROR
    assert by_name["lookup"].parent_observation_id == by_name["run"].id
    assert {o.trace_id for o in obs} == {trace.id}


SEED_MODE_2 = """
name: pluto_duck_simulation
runner:
  target: "examples.pluto_duck.message_handler:MessageHandler.handle_message"
  working_directory: "."
replay_args:
  enabled: true
inputs_file: "inputs/generated.yaml"
iterations: 50
parallel_runs: 4
personas:
  - name: novice_user
    description: A user new to the system
variation_strategies: [Rephrase, error-prone, my_own]
"""


def test_experiment_config_reads_the_original_keys() -> None:
    config = ExperimentConfig.from_dict(yaml.safe_load(SEED_MODE_2))
    assert config.iterations == 50 and config.parallel_runs == 4
    assert config.runner.module_path == "examples.pluto_duck.message_handler"
    assert config.runner.function_name == "MessageHandler.handle_message"
    assert config.personas[0].name == "novice_user"
    assert "A user new to the system" in config.personas[0].to_prompt()
    assert config.variation_strategies == [
        VariationStrategy.REPHRASE,
        VariationStrategy.ERROR_PRONE,
        "my_own",
    ]
    assert config.to_dict()["variation_strategies"] == ["rephrase", "error_prone", "my_own"]
    runner_first = ExperimentConfig.from_dict(
        {"name": "x", "iterations": 1, "runner": {"iterations": 9}}
    )
    assert runner_first.iterations == 9
    score = Score(trace_id="t", name="success", value=True, data_type=ScoreDataType.BOOLEAN)
    assert score.value is True
