"""`fluxloop generate inputs` in deterministic mode, through the real CLI on real projects."""

from __future__ import annotations

import json
from pathlib import Path

from fluxloop.project.inputs import parse_inputs_data

from .conftest import edit_yaml, fl, load_yaml

GENERATED = Path("inputs") / "generated.yaml"


def test_default_is_deterministic_offline_and_runner_readable(project: Path) -> None:
    done = fl("generate", "inputs", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "Generated 12 input(s)" in done.stdout
    path = project / GENERATED
    text = path.read_text(encoding="utf-8")
    # commented by persona, with generation metadata
    assert "# persona: novice_user (6 inputs) - A user new to the system" in text
    assert "# persona: expert_user (6 inputs) - An experienced power user" in text
    data = load_yaml(path)
    gen = data["generation"]
    assert gen["mode"] == "deterministic"
    assert gen["strategies"] == ["rephrase", "verbose", "concise"]
    assert gen["total"] == 12 and gen["personas"] == ["novice_user", "expert_user"]
    for entry in data["inputs"]:
        assert {"input", "persona", "strategy", "base_index", "seed", "parent"} <= set(entry)
        assert entry["input"] != entry["parent"]
        assert entry["metadata"]["expected_intent"] in ("help", "capabilities")
    # the runner reads it, persona and metadata included
    items = parse_inputs_data(data, path)
    assert len(items) == 12
    assert {i.persona for i in items} == {"novice_user", "expert_user"}
    assert {i.metadata["strategy"] for i in items} == {"rephrase", "verbose", "concise"}
    # and runs it (setting.yaml's inputs_file points at it)
    run = fl("-q", "run", "experiment", cwd=project)
    assert run.returncode == 0, run.stderr
    exp = Path(run.stdout.strip().splitlines()[-1])
    lines = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    assert len(lines) == 12
    assert {x["metadata"]["strategy"] for x in lines} == {"rephrase", "verbose", "concise"}
    assert {x["persona"] for x in lines} == {"novice_user", "expert_user"}


def test_same_config_and_seed_give_the_same_bytes(project: Path) -> None:
    args = ["generate", "inputs", "--seed", "7", "--variation-count", "2"]
    a = fl(*args, "--output", "a.yaml", cwd=project)
    b = fl(*args, "--output", "b.yaml", cwd=project)
    c = fl(
        "generate", "inputs", "--seed", "8", "--variation-count", "2", "-o", "c.yaml", cwd=project
    )
    assert a.returncode == b.returncode == c.returncode == 0, a.stderr + b.stderr + c.stderr
    first = (project / "a.yaml").read_bytes()
    assert first == (project / "b.yaml").read_bytes()
    assert first != (project / "c.yaml").read_bytes()
    entries = load_yaml(project / "a.yaml")["inputs"]
    assert len(entries) == 24  # 2 base x 2 personas x 3 strategies x 2
    assert all(e["seed"] == 7 for e in entries)
    assert len({(e["persona"], e["input"]) for e in entries}) == 24  # de-duplicated


def test_a_second_generate_keeps_one_backup_and_no_overwrite_refuses(project: Path) -> None:
    """Seed 003 "Override strategies": a second `generate inputs` replaces the file, keeping the
    previous one as generated.yaml.bak; --no-overwrite keeps the old strictness."""
    assert fl("generate", "inputs", cwd=project).returncode == 0
    before = (project / GENERATED).read_bytes()
    refused = fl("generate", "inputs", "--seed", "3", "--no-overwrite", cwd=project)
    assert refused.returncode == 2
    assert "already exists; pass --overwrite" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (project / GENERATED).read_bytes() == before
    again = fl(
        "generate", "inputs", "--config", "setting.yaml", "--strategy", "rephrase",
        "--strategy", "verbose", cwd=project,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    backup = project / "inputs" / "generated.yaml.bak"
    assert backup.read_bytes() == before
    assert "kept the previous inputs/generated.yaml as inputs/generated.yaml.bak" in again.stderr
    second = (project / GENERATED).read_bytes()
    assert second != before
    third = fl("generate", "inputs", "--seed", "3", cwd=project)
    assert third.returncode == 0, third.stderr
    assert backup.read_bytes() == second  # one backup: the latest previous file
    assert not list((project / "inputs").glob("*.bak.bak"))
    forced = fl("generate", "inputs", "--seed", "4", "--overwrite", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert "kept the previous" not in forced.stderr
    assert backup.read_bytes() == second


def test_limit_is_fair_across_personas_and_strategy_is_repeatable(project: Path) -> None:
    done = fl(
        "generate", "inputs", "--limit", "4", "--strategy", "rephrase", "--strategy",
        "error_prone", "--output", "inputs/batch1.yaml", cwd=project,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = load_yaml(project / "inputs" / "batch1.yaml")["inputs"]
    assert len(entries) == 4
    assert {e["persona"] for e in entries} == {"novice_user", "expert_user"}
    assert {e["strategy"] for e in entries} <= {"rephrase", "error_prone"}


def test_every_builtin_strategy_and_custom_templates(configs_project: Path) -> None:
    input_yaml = configs_project / "configs" / "input.yaml"
    data = load_yaml(input_yaml)
    data["personas"].append(
        {
            "name": "frustrated_user",
            "description": "User experiencing issues or delays",
            "characteristics": ["Expresses frustration or urgency", "May be impatient"],
            "expertise_level": "intermediate",
            "goals": ["Resolve issue quickly"],
            "constraints": ["Has only five minutes"],
        }
    )
    data["input_generation"] = {
        "mode": "deterministic",
        "strategies": [
            "rephrase",
            "verbose",
            "concise",
            "error-prone",
            "persona_based",
            "adversarial",
            "formal",
            "casual",
            "technical",
            "simple",
            "Angry Caps",
        ],
        "templates": {
            "angry_caps": ["{input} ({persona}, goal: {goal})", "WHY IS THIS SO HARD? {input}"]
        },
        "seed": 11,
    }
    input_yaml.write_text(__import__("yaml").safe_dump(data, sort_keys=False), encoding="utf-8")
    done = fl("generate", "inputs", cwd=configs_project)
    assert done.returncode == 0, done.stderr
    entries = load_yaml(configs_project / GENERATED)["inputs"]
    strategies = {e["strategy"] for e in entries}
    assert strategies == {
        "rephrase", "verbose", "concise", "error_prone", "persona_based", "adversarial",
        "formal", "casual", "technical", "simple", "angry_caps",
    }  # fmt: skip
    by = {(e["persona"], e["strategy"], e["base_index"]): e["input"] for e in entries}
    assert "Resolve issue quickly".lower() in by[("frustrated_user", "angry_caps", 0)].lower() or (
        by[("frustrated_user", "angry_caps", 0)].startswith("WHY IS THIS SO HARD?")
    )
    assert len(by[("novice_user", "verbose", 0)]) > 2 * len("How do I get started?")
    assert len(by[("novice_user", "concise", 0)]) < len("How do I get started?")
    persona = by[("frustrated_user", "persona_based", 0)]
    assert "How do I get started?" in persona and persona != "How do I get started?"
    adversarial = by[("expert_user", "adversarial", 1)]
    assert "What can you help me with?".lower() in adversarial.lower()


def test_config_errors_are_one_line_with_file_and_line(project: Path) -> None:
    setting = project / "setting.yaml"
    edit_yaml(
        setting,
        input_generation={"mode": "deterministic", "strategies": ["rephrse"], "sed": 3},
    )
    done = fl("generate", "inputs", cwd=project)
    assert done.returncode == 2
    err = done.stderr
    assert "Traceback" not in err
    assert "setting.yaml:" in err
    assert "unknown deterministic strategy 'rephrse' (did you mean 'rephrase'?" in err
    assert "input_generation.sed: unknown key (did you mean 'input_generation.seed'?)" in err
    assert not (project / GENERATED).exists()


def test_dry_run_shows_the_plan_and_writes_nothing(project: Path) -> None:
    done = fl("generate", "inputs", "--dry-run", "--limit", "3", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "Planned:      3 input(s) (limit 3)" in done.stdout
    assert "Preview:" in done.stdout
    assert "Dry run: nothing was called or written." in done.stdout
    assert not (project / GENERATED).exists()


def test_no_base_inputs_is_a_config_error(project: Path) -> None:
    edit_yaml(project / "setting.yaml", base_inputs=None)
    done = fl("generate", "inputs", cwd=project)
    assert done.returncode == 2
    assert "nothing to generate from" in done.stderr


ORIGINAL_030 = """\
# ===================================================================
# Generated User Inputs: 2026-11-22 18:06:18 UTC
# Model: openai/gpt-5-mini
# ===================================================================

stats:
  total_generated: 2
  base_inputs: 1
  personas: 2
  strategies: 1

novice_user:
- '[rephrase] variation 0 (rephrase)'

inputs:
- input: variation 0 (rephrase)
  strategy: rephrase
  base_index: 0
  persona: novice_user
  persona_description: A user new to the system
  prompt_hash: abcd1234abcd1234
- input: variation 1 (rephrase)
  strategy: rephrase
  base_index: 0
  persona: expert_user
  persona_description: An experienced power user
  prompt_hash: abcd1234abcd1235
generation_config:
  config_name: my-first-agent_experiment
  generation_mode: llm
"""

ORIGINAL_OLD = """\
generated_at: '2025-11-15T14:30:21.621061Z'
metadata: {config_name: tutorial_experiment, total_base_inputs: 1, total_personas: 2, strategies: [rephrase, typo, concise], limit: null, generation_mode: llm, llm_provider: openai, llm_model: gpt-5-mini}
inputs:
- input: Hi ther, whats my flite time? I'm new - how do I check it?
  metadata: {strategy: typo, base_index: 0, persona: novice_user, persona_description: A user new to the system, model: gpt-5-mini, provider: openai, prompt_hash: 5be27e7fb0339726, prompt: 'x'}
"""


def test_the_original_generated_files_still_run(project: Path) -> None:
    (project / "inputs" / "v030.yaml").write_text(ORIGINAL_030, encoding="utf-8")
    (project / "inputs" / "old.yaml").write_text(ORIGINAL_OLD, encoding="utf-8")
    for name, personas in (
        ("v030.yaml", {"novice_user", "expert_user"}),
        ("old.yaml", {"novice_user"}),
    ):
        done = fl("-q", "run", "experiment", "--inputs", f"inputs/{name}", cwd=project)
        assert done.returncode == 0, done.stderr
        exp = Path(done.stdout.strip().splitlines()[-1])
        lines = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
        assert {x["persona"] for x in lines} == personas
        assert all(x["success"] for x in lines)
