"""A project's .env chain and the line-preserving writer (fluxloop.project.envfiles), read back
by the one parser (fluxloop.sdk.envfile) and by the SDK's load_env in a real process."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fluxloop.project.envfiles import DOTENV_MODE, dotenv_chain, set_dotenv_value
from fluxloop.sdk.envfile import read_dotenv

AWKWARD = ["plain", "two words", 'say "hi"', "back\\slash", "multi\nline", "p$ss${x} #1", ""]


@pytest.mark.parametrize("value", AWKWARD)
def test_written_values_read_back_exactly(tmp_path: Path, value: str) -> None:
    env = tmp_path / ".env"
    set_dotenv_value(env, "KEY", value)
    assert read_dotenv(env) == {"KEY": value}
    assert stat.S_IMODE(env.stat().st_mode) == DOTENV_MODE


def test_setting_a_key_keeps_every_other_byte(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        '# keys\nA=1  # first\nexport B="old\nvalue"\n\n# tail comment\nC=3', encoding="utf-8"
    )
    assert set_dotenv_value(env, "B", "new")
    assert env.read_text(encoding="utf-8") == ("# keys\nA=1  # first\nB=new\n\n# tail comment\nC=3")
    assert set_dotenv_value(env, "D", "4")
    assert env.read_text(encoding="utf-8").endswith("C=3\nD=4\n")
    assert not set_dotenv_value(env, "A", "x", overwrite=False)
    assert read_dotenv(env) == {"A": "1", "B": "new", "C": "3", "D": "4"}


def test_the_last_assignment_is_the_one_replaced(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\nA=2\n", encoding="utf-8")
    set_dotenv_value(env, "A", "3")
    assert env.read_text(encoding="utf-8") == "A=1\nA=3\n"
    assert read_dotenv(env) == {"A": "3"}


def test_the_chain_parent_then_project(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (tmp_path / ".env").write_text("A=parent\nB=parent\n", encoding="utf-8")
    (project / ".env").write_text('B="project # kept"\n', encoding="utf-8")
    merged, files, origin = dotenv_chain(project)
    assert merged == {"A": "parent", "B": "project # kept"}
    assert files == [tmp_path / ".env", project / ".env"]
    assert origin == {"A": tmp_path / ".env", "B": project / ".env"}


SERVICE = """
import json, os, sys
import fluxloop
values = fluxloop.load_env(sys.argv[1], refresh_config=False)
print(json.dumps({"values": values, "environ": {k: os.environ.get(k) for k in values}}))
"""


def test_the_sdk_reads_what_the_project_wrote(tmp_path: Path) -> None:
    """A service's fluxloop.load_env() (a real process) sees exactly what `fluxloop record` /
    `config set-llm` wrote, escapes included; a variable already set wins."""
    env = tmp_path / ".env"
    for i, value in enumerate(AWKWARD):
        set_dotenv_value(env, f"FLUXLOOP_TEST_{i}", value)
    result = subprocess.run(
        [sys.executable, "-c", SERVICE, str(env)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "FLUXLOOP_TEST_0": "from-env", "FLUXLOOP_ENABLED": "0"},
        timeout=120,
        check=True,
    )
    seen = json.loads(result.stdout)
    expected = {f"FLUXLOOP_TEST_{i}": value for i, value in enumerate(AWKWARD)}
    assert seen["values"] == expected
    assert seen["environ"] == expected | {"FLUXLOOP_TEST_0": "from-env"}
