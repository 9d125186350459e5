"""`fluxloop parse experiment` on real experiment directories and on the original's format."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import RUNS, fl, read_jsonl

SECTIONS = ["# Trace Analysis", "## Summary", "### Input", "### Output", "## Timeline"]


def _front_matter(text: str) -> dict[str, str]:
    block = text.split("---\n", 2)[1]
    return dict(line.split(": ", 1) for line in block.strip().splitlines())


def test_markdown_for_every_run_including_failed(exp_a: Path) -> None:
    proc = fl("parse", "experiment", str(exp_a), cwd=exp_a.parent)
    assert proc.returncode == 0, proc.stderr
    assert f"Parsed {RUNS} run(s), 6 failed" in proc.stdout
    out = exp_a / "per_trace_analysis"
    summaries = read_jsonl(exp_a / "trace_summary.jsonl")
    files = sorted(p.name for p in out.glob("*.md"))
    assert files == sorted(f"{s['iteration']:02d}_{s['trace_id']}.md" for s in summaries)
    observations = read_jsonl(exp_a / "observations.jsonl")
    for line in summaries:
        text = (out / f"{line['iteration']:02d}_{line['trace_id']}.md").read_text()
        front = _front_matter(text)
        assert front["trace_id"] == json.dumps(line["trace_id"])
        assert front["iteration"] == str(line["iteration"])
        assert front["persona"] == json.dumps(line["persona"])
        assert front["success"] == ("true" if line["success"] else "false")
        positions = [text.index(section) for section in SECTIONS]
        assert positions == sorted(positions)
        assert f"- Trace ID: `{line['trace_id']}`" in text
        assert f"- Success: `{line['success']}`" in text
        mine = [o for o in observations if o["trace_id"] == line["trace_id"]]
        assert text.count("\n### Step ") == len(mine) == line["observation_count"]
        assert "## Conversation" in text and "- **User**: " in text
        if not line["success"]:
            assert front["error"].startswith('"RuntimeError: order service down') or front[
                "error"
            ].startswith('"ValueError: flaky failure')
            assert "### Error\n```text\nTraceback (most recent call last):" in text
            assert "- Level: `error`" in text
    per_trace = read_jsonl(out / "per_trace.jsonl")
    assert [r["trace_id"] for r in per_trace] == [s["trace_id"] for s in summaries]
    first = per_trace[0]
    assert first["timeline"][0]["type"] == "agent" and first["timeline"][0]["depth"] == 0
    assert {t["depth"] for t in first["timeline"][1:]} == {1}
    assert first["metrics"]["observation_count"] == len(first["timeline"])
    assert first["summary"]["raw"] == first["raw"] == summaries[0]
    assert first["summary"]["token_usage"] == summaries[0].get("token_usage")
    assert first["summary"]["trace_id"] == summaries[0]["trace_id"]


def test_step_layout_matches_the_original(exp_a: Path) -> None:
    assert fl("parse", "experiment", str(exp_a), cwd=exp_a).returncode == 0
    line = read_jsonl(exp_a / "trace_summary.jsonl")[0]
    text = (exp_a / "per_trace_analysis" / f"00_{line['trace_id']}.md").read_text()
    step = text.split("## Timeline\n", 1)[1]
    assert re.match(
        r"---\n### Step 1: \[agent\] SupportAgent\n- Start: `[^`]+\+00:00`\n- End: `[^`]+`\n"
        r"- Duration: `\d+\.\d\d ms`\n- Level: `info`\n\n\*\*Input\*\*\n```json\n\{\n",
        step,
    ), step[:400]
    assert "### Step 3: [generation] llm\n" in step
    assert "- Model: `fake-llm`" in step and "- Tokens: prompt " in step
    assert "- Parent: Step 1 ([agent] SupportAgent)" in step


def test_json_format_and_output_option(exp_a: Path, tmp_path: Path) -> None:
    target = tmp_path / "parsed"
    proc = fl(
        "parse", "experiment", str(exp_a), "--format", "json", "--output", str(target), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    files = list(target.glob("*.json"))
    assert len(files) == RUNS and not list(target.glob("*.md"))
    record = json.loads(files[0].read_text())
    assert {
        "trace_id",
        "iteration",
        "persona",
        "input",
        "output",
        "timeline",
        "summary",
        "conversation",
        "metrics",
        "success",
    } <= set(record)


def test_overwrite_refuses_to_clobber(exp_a: Path) -> None:
    assert fl("parse", "experiment", str(exp_a), cwd=exp_a).returncode == 0
    marker = exp_a / "per_trace_analysis" / "notes.txt"
    marker.write_text("mine")
    proc = fl("parse", "experiment", str(exp_a), cwd=exp_a)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "already exists; pass --overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr and marker.exists()
    proc = fl("parse", "experiment", str(exp_a), "--overwrite", cwd=exp_a)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert len(list((exp_a / "per_trace_analysis").glob("*.md"))) == RUNS


def test_output_may_not_be_the_experiment_itself(exp_a: Path) -> None:
    for output in (".", "..", str(exp_a)):
        proc = fl("parse", "experiment", str(exp_a), "--output", output, "--overwrite", cwd=exp_a)
        assert proc.returncode == 2, output
        assert "refusing to write into the experiment directory" in proc.stderr
    assert (exp_a / "trace_summary.jsonl").exists()


def test_original_format_directory(original_dir: Path) -> None:
    proc = fl("parse", "experiment", str(original_dir), cwd=original_dir)
    assert proc.returncode == 0, proc.stderr
    out = original_dir / "per_trace_analysis"
    names = sorted(p.name for p in out.glob("*.md"))
    assert names == [
        "00_1a7d02b5-b381-480b-ad1b-25fbe1777700.md",
        "00_1a7d02b5-b381-480b-ad1b-25fbe1777714.md",
        "01_1a7d02b5-b381-480b-ad1b-25fbe177770a.md",
        "01_failed-0003.md",
    ]
    text = (out / names[0]).read_text()
    assert text.startswith(
        '---\ntrace_id: "1a7d02b5-b381-480b-ad1b-25fbe1777700"\niteration: 0\n'
        'persona: "novice_user"\nduration_ms: 359.94\nsuccess: true\n---\n\n# Trace Analysis\n'
    )
    assert "- Persona: `novice_user`\n- Duration: `359.94 ms`\n- Success: `True`" in text
    # completion order on disk (children first) -> start order, parent first
    steps = re.findall(r"### Step (\d): \[(\w+)\] (\w+)", text)
    assert steps == [
        ("1", "agent", "SimpleAgent"),
        ("2", "tool", "process_input"),
        ("3", "generation", "generate_response"),
    ]
    assert "_(source=agent ; actions=agent:SimpleAgent, tool:process_input, " in text
    # naive and Z timestamps are read as UTC
    naive = (out / "01_1a7d02b5-b381-480b-ad1b-25fbe177770a.md").read_text()
    assert "- Start: `2025-11-22T18:00:31.000500+00:00`" in naive
    assert "- Duration: `358.50 ms`" in naive
    zulu = (out / names[1]).read_text()
    assert "- Start: `2025-11-22T18:00:32.000500+00:00`" in zulu
    failed = (out / "01_failed-0003.md").read_text()
    assert "success: false" in failed and 'error: "agent failed on purpose"' in failed
    assert "(no observations recorded)" in failed
    assert '"input": "please fail now"' in failed


def test_file_names_are_sanitised(original_dir: Path) -> None:
    lines = read_jsonl(original_dir / "trace_summary.jsonl")
    lines[0]["trace_id"] = "../../../etc/evil id"
    lines[1]["trace_id"] = "/abs/path"
    lines[2]["iteration"] = "../3"
    (original_dir / "trace_summary.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )
    proc = fl("parse", "experiment", str(original_dir), cwd=original_dir)
    assert proc.returncode == 0, proc.stderr
    out = original_dir / "per_trace_analysis"
    names = sorted(p.name for p in out.iterdir())
    assert "00_etcevilid.md" in names and "01_abspath.md" in names
    assert all(re.fullmatch(r"[0-9]{2}_[A-Za-z0-9_-]+\.md|per_trace\.jsonl", n) for n in names)
    assert not (original_dir.parent / "etc").exists()


def test_malformed_line_is_one_clear_error(exp_a: Path) -> None:
    path = exp_a / "observations.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = '{"id": "x", "trace_id": \n'
    path.write_text("".join(lines))
    proc = fl("parse", "experiment", str(exp_a), cwd=exp_a.parent)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()[-1:]
    assert re.search(r"error: .*observations\.jsonl:3: malformed JSON line", line), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (exp_a / "per_trace_analysis").exists()


def test_torn_last_line_is_skipped_with_a_warning(exp_a: Path) -> None:
    with open(exp_a / "observations.jsonl", "a") as fh:
        fh.write('{"id": "torn", "trace_id": "abc')
    proc = fl("parse", "experiment", str(exp_a), cwd=exp_a)
    assert proc.returncode == 0, proc.stderr
    assert "torn last line" in proc.stderr


def test_missing_directory_and_not_an_experiment(tmp_path: Path) -> None:
    proc = fl("parse", "experiment", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: nope: experiment directory not found"
    proc = fl("parse", "experiment", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "not an experiment directory" in proc.stderr
