"""Code written against the original SDK (0.1.x) keeps working: instrument(), reset_config(),
load_env() with the original's parameters. Real processes, real SDK, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli_process import clean_env

APP = """
import json, sys
import fluxloop

fluxloop.configure(storage="file", base_path=sys.argv[1])

with fluxloop.instrument("first", session_id="s1") as ctx:
    ctx.add_metadata("step", 1)
    assert fluxloop.get_current_context() is ctx
    assert ctx.is_enabled()

fluxloop.configure(sample_rate=0.0)  # after the first trace: takes effect
with fluxloop.instrument("sampled_out") as ctx:
    ctx.add_metadata("step", 2)
    ctx.add_tag("t")
    assert fluxloop.get_current_context() is ctx
    assert not ctx.is_enabled()

fluxloop.configure(enabled=False, sample_rate=1.0)
with fluxloop.instrument("disabled", user_id="u") as ctx:
    ctx.add_metadata("step", 3)     # the original's apps call this unconditionally
    ctx.add_tag("x")
    ctx.set_user("someone")
    assert fluxloop.get_current_context() is ctx
    assert not ctx.is_enabled()
    assert ctx.trace.metadata == {"step": 3} and ctx.trace.name == "disabled"
    with fluxloop.instrument("nested") as inner:
        assert inner is ctx
assert fluxloop.get_current_context() is None

fluxloop.configure(enabled=True)
with fluxloop.instrument("last") as ctx:
    pass
fluxloop.flush()
print("ok")
"""


def run_script(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_instrument_context_when_disabled_sampled_out_and_late_sample_rate(tmp_path: Path) -> None:
    done = run_script(tmp_path, APP, str(tmp_path / "traces"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    (traces,) = (tmp_path / "traces").glob("traces_*.jsonl")
    names = [json.loads(line)["name"] for line in traces.read_text().splitlines()]
    assert names == ["first", "last"]


RESET = """
import json, sys
import fluxloop

rec = sys.argv[1]
fluxloop.configure(record_args=True, recording_file=rec, base_path=sys.argv[2])
fluxloop.record_call_args(target="app:handle", message="a")
fluxloop.record_call_args(target="app:handle", message="b")
config = fluxloop.reset_config()
print(type(config).__name__, config.record_args, config.base_path)
fluxloop.configure(record_args=True, recording_file=rec)
fluxloop.record_call_args(target="app:handle", message="c")
"""


def test_reset_config_returns_the_config_and_restarts_iterations(tmp_path: Path) -> None:
    rec = tmp_path / "args.jsonl"
    done = run_script(tmp_path, RESET, str(rec), str(tmp_path / "traces"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SDKConfig False traces"
    lines = [json.loads(x) for x in rec.read_text().splitlines()]
    assert [(x["kwargs"]["message"], x["iteration"]) for x in lines] == [
        ("a", 0),
        ("b", 1),
        ("c", 0),
    ]


LOAD_ENV = """
import os, sys
import fluxloop

os.environ["FLUXLOOP_SERVICE_NAME"] = "from-env"
fluxloop.configure(storage="none")
assert fluxloop.get_config().service_name == "from-env"
# the original's signature: load_env(dotenv_path=None, *, override=True, refresh_config=True)
fluxloop.load_env(dotenv_path=sys.argv[1], override=False, refresh_config=False)
assert os.environ["FLUXLOOP_SERVICE_NAME"] == "from-env"
assert fluxloop.get_config().environment == "development"   # not refreshed
fluxloop.load_env(sys.argv[1], override=True)                # a directory: <dir>/.env
assert os.environ["FLUXLOOP_SERVICE_NAME"] == "from-file"
assert fluxloop.get_config().service_name == "from-file"
assert fluxloop.get_config().environment == "staging"
print("ok")
"""


def test_load_env_takes_the_original_parameters(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(
        "FLUXLOOP_SERVICE_NAME=from-file\nFLUXLOOP_ENVIRONMENT=staging\n", encoding="utf-8"
    )
    done = run_script(tmp_path, LOAD_ENV, str(project))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


ALIASES = """
import sys
import fluxloop

out = sys.argv[1]
# what the original runner called, verbatim
fluxloop.configure(
    use_collector=False, collector_url=None, api_key=None,
    offline_store_enabled=True, offline_store_dir=out,
)
config = fluxloop.get_config()
assert config.storage == "file" and str(config.base_path) == out, config

@fluxloop.agent()
def run(text):
    return text

run("hi")
fluxloop.configure(offline_store_dir=out)  # again: no second warning
fluxloop.flush()
fluxloop.reset_config()
assert fluxloop.configure(use_collector=False, offline_store_enabled=False).storage == "none"
assert fluxloop.configure(use_collector=True).storage == "http"
assert fluxloop.configure(collector_url="http://collector:8000/").collector_url == "http://collector:8000"
for bad in ({"collector_url": ""}, {"batch_size": 101}, {"batch_size": 0}, {"sample_rate": 1.5}):
    try:
        fluxloop.configure(**bad)
    except fluxloop.ConfigError as exc:
        print("rejected:", exc)
    else:
        raise SystemExit(f"accepted {bad}")
assert fluxloop.configure(batch_size=100).batch_size == 100
print("ok")
"""


def test_original_configure_keys_are_aliases_with_one_warning_each(tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    done = run_script(tmp_path, ALIASES, str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "ok"
    assert list(out.glob("observations_*.jsonl"))
    for name in ("use_collector", "offline_store_enabled", "offline_store_dir"):
        assert (
            done.stderr.count(f"deprecated: the original SDK's configure() argument {name} ") == 1
        )
    rejected = [line for line in done.stdout.splitlines() if line.startswith("rejected:")]
    assert len(rejected) == 4
    assert "collector_url" in rejected[0] and "an http:// or https:// URL" in rejected[0]
    assert "batch_size" in rejected[1] and "between 1 and 100" in rejected[1]


ENV_ALIASES = """
import fluxloop
config = fluxloop.get_config()
print(config.storage, config.base_path)
"""


def test_original_variables_are_aliases(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(ENV_ALIASES, encoding="utf-8")
    (tmp_path / ".env").write_text(
        "FLUXLOOP_USE_COLLECTOR=false\nFLUXLOOP_OFFLINE_ENABLED=true\nFLUXLOOP_OFFLINE_DIR=./store\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["file", "store"]
    for name in ("FLUXLOOP_USE_COLLECTOR", "FLUXLOOP_OFFLINE_ENABLED", "FLUXLOOP_OFFLINE_DIR"):
        assert done.stderr.count(f"variable {name} still works") == 1, done.stderr
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=clean_env({"FLUXLOOP_OFFLINE_ENABLED": "false", "FLUXLOOP_USE_COLLECTOR": "false"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split()[0] == "none"
