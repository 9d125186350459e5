"""`fluxloop generate inputs --from-recording`: the recorded content is the base input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import clean_env, edit_yaml, fl, load_yaml

# The seeds' "Test with Recording" (steps 1-3), character for character.
SEED_SCRIPT = """\
# 1. Create mock recording
cat > /tmp/test_recording.jsonl << EOF
{"_version": "1", "iteration": 0, "target": "examples.simple_agent:run", "kwargs": {"data": {"content": "test"}}, "timestamp": "2025-09-30T00:00:00"}
EOF

# 2. Generate inputs
fluxloop generate inputs \\
  --config setting.yaml \\
  --from-recording /tmp/test_recording.jsonl \\
  --limit 3

# 3. Run
fluxloop run experiment --config setting.yaml --iterations 1 --no-collector
"""


def test_seed_test_with_recording_exactly_as_written(project: Path, tmp_path: Path) -> None:
    recording = tmp_path / "test_recording.jsonl"
    script = SEED_SCRIPT.replace("/tmp/test_recording.jsonl", str(recording))
    cli = f"{sys.executable} -m fluxloop.cli"
    done = subprocess.run(
        ["bash", "-e", "-c", f'fluxloop() {{ {cli} "$@"; }}\n{script}'],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    data = load_yaml(project / "inputs" / "generated.yaml")
    entries = data["inputs"]
    assert len(entries) == 3
    for entry in entries:
        assert entry["parent"] == "test"
        assert entry["source"] == "recording"
        assert entry["recording_index"] == 0
        assert entry["override_param_path"] == "data.content"
        assert entry["input"] != "test"
    assert {e["persona"] for e in entries} == {"novice_user", "expert_user"}
    assert data["generation"]["source"] == "recording"
    assert data["generation"]["recording"]["target"] == "examples.simple_agent:run"
    (exp,) = (p for p in (project / "experiments").iterdir() if not p.is_symlink())
    lines = (exp / "trace_summary.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert all(json.loads(x)["success"] for x in lines)


def _record(path: Path, contents: list[object], extra: str = "") -> None:
    lines = [
        json.dumps(
            {
                "_version": "1",
                "iteration": i,
                "target": "app.handler:MessageHandler.handle_message",
                "kwargs": {
                    "connection_id": f"c{i}",
                    "data": {"content": content, "conversationId": "conv-1"},
                    "send_callback": "<builtin:collector.send>",
                },
                "timestamp": "2026-01-01T00:00:00",
            }
        )
        for i, content in enumerate(contents)
    ]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")


def test_last_call_by_default_index_and_all(project: Path) -> None:
    rec = project / "recordings" / "args.jsonl"
    _record(rec, ["first message", "where is my order 42?"], extra="{not json\n\n")
    edit_yaml(
        project / "setting.yaml",
        replay_args={"enabled": False, "override_param_path": "data.content"},
    )
    done = fl(
        "generate", "inputs", "--from-recording", "recordings/args.jsonl", "-s", "error_prone",
        cwd=project,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "not valid JSON" in done.stderr
    entries = load_yaml(project / "inputs" / "generated.yaml")["inputs"]
    assert {e["parent"] for e in entries} == {"where is my order 42?"}
    assert {e["recording_index"] for e in entries} == {1}
    assert {e["recording_file"] for e in entries} == {"recordings/args.jsonl"}

    first = fl(
        "generate", "inputs", "--from-recording", str(rec), "--recording-index", "0",
        "--overwrite", "-s", "verbose", cwd=project,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    entries = load_yaml(project / "inputs" / "generated.yaml")["inputs"]
    assert {e["parent"] for e in entries} == {"first message"}

    every = fl(
        "generate", "inputs", "--from-recording", str(rec), "--recording-index", "all",
        "--overwrite", "-s", "concise", cwd=project,
    )  # fmt: skip
    assert every.returncode == 0, every.stderr
    entries = load_yaml(project / "inputs" / "generated.yaml")["inputs"]
    assert {(e["base_index"], e["recording_index"]) for e in entries} == {(0, 0), (1, 1)}


def test_missing_path_and_missing_file_are_config_errors(project: Path) -> None:
    rec = project / "recordings" / "args.jsonl"
    _record(rec, ["hello"])
    bad = fl(
        "generate", "inputs", "--from-recording", str(rec), "--override-param-path",
        "data.text", cwd=project,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "args.jsonl:1: override_param_path 'data.text'" in bad.stderr
    assert "content, conversationId" in bad.stderr
    missing = fl("generate", "inputs", "--from-recording", "nope.jsonl", cwd=project)
    assert missing.returncode == 2
    assert "Recording file not found" in missing.stderr
    assert not (project / "inputs" / "generated.yaml").exists()
