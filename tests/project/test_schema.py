"""The one configuration schema: its JSON Schema agrees with the loader, the CLI prints it,
``init project`` writes it beside the config, and pydantic's errors read as FluxLoop's."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fluxloop.project.problems import schema_report, validate_config
from fluxloop.project.schema import SCHEMA_FILE, FluxLoopConfig, json_schema, json_schema_text
from tests.cli_process import fl

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "docs" / "fluxloop-config.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def _config_strings() -> list[tuple[str, dict[str, Any]]]:
    """Every module-level YAML string in the tests that is a FluxLoop config, and examples/."""
    found: list[tuple[str, dict[str, Any]]] = []
    known = set(FluxLoopConfig.model_fields)
    for module in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                continue
            if not isinstance(node.value.value, str) or not isinstance(node.targets[0], ast.Name):
                continue
            try:
                data = yaml.safe_load(textwrap.dedent(node.value.value))
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and known & set(data) and len(known & set(data)) >= 2:
                found.append((f"{module.name}:{node.targets[0].id}", data))
    for path in sorted((REPO / "examples").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            found.append((str(path.relative_to(REPO)), data))
    return found


CONFIGS = _config_strings()

INVALID = {
    "every-kind": {
        "iteratons": 5,
        "runner": {"target": "a:b", "timeout_seconds": -1, "max_retries": "three"},
        "parallel_runs": 0,
        "personas": [{"description": "no name"}],
        "output": {"format": "xml"},
    },
    "wrong-type": {"runner": {"target": "a:b"}, "iterations": "many"},
    "typo-in-section": {"runner": {"target": "a:b", "taget": "x"}},
    "evaluator-type": {"evaluators": [{"name": "x", "type": "rule_base", "rules": []}]},
    "evaluator-weight": {
        "evaluators": [{"type": "rule_based", "weight": "heavy", "rules": [{"check": "x"}]}]
    },
    "judge-parser": {"evaluators": [{"type": "llm_judge", "parser": "json_scor"}]},
    "generation": {"input_generation": {"mode": "llm", "llm": {"max_tokens": 0}}},
    "http-runner": {"runner": {"target": "a:b", "http": {"url": "http://x"}}},
    "python-path": {"runner": {"target": "a:b", "python_path": 3}},
    "base-input": {"runner": {"target": "a:b"}, "base_inputs": [{"persona": "p"}]},
    "cassette-mode": {"cassette": {"mode": "replay-all"}},
}


def test_the_tests_and_examples_hold_configs() -> None:
    assert len(CONFIGS) >= 15, [name for name, _ in CONFIGS]
    assert any(name.startswith("examples/") for name, _ in CONFIGS)


@pytest.mark.parametrize(("name", "data"), CONFIGS, ids=[n for n, _ in CONFIGS])
def test_json_schema_agrees_with_the_loader(name: str, data: dict[str, Any]) -> None:
    report = schema_report(data)
    errors = [e.message for e in VALIDATOR.iter_errors(data)]
    if report.problems or report.warnings:
        # an unknown key (a warning when loading) is flagged in the editor too
        assert errors, f"{name}: the loader says {report.problems + report.warnings}"
    else:
        assert not errors, f"{name}: {errors}"


@pytest.mark.parametrize("name", sorted(INVALID))
def test_json_schema_rejects_what_validation_rejects(name: str) -> None:
    data = INVALID[name]
    assert validate_config(data, require_target=False).problems, name
    assert list(VALIDATOR.iter_errors(data)), name


def test_config_schema_prints_a_valid_json_schema(tmp_path: Path) -> None:
    done = fl("config", "schema", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == json_schema()
    assert {"runner", "personas", "evaluators", "input_generation"} <= set(schema["properties"])
    done = fl("config", "schema", "--output", "schema.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "schema.json").read_text(encoding="utf-8") == json_schema_text()


@pytest.mark.parametrize("layout", ["single", "configs"])
def test_init_writes_the_schema_and_points_each_yaml_at_it(tmp_path: Path, layout: str) -> None:
    done = fl("init", "project", "--name", "demo", "--layout", layout, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "fluxloop" / "demo"
    schema_file = project / SCHEMA_FILE
    assert schema_file.read_text(encoding="utf-8") == json_schema_text()
    files = (
        [project / "setting.yaml"] if layout == "single" else sorted(project.glob("configs/*.yaml"))
    )
    assert len(files) == (1 if layout == "single" else 4)
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), first
        relative = first.split("$schema=", 1)[1]
        assert (path.parent / relative).resolve() == schema_file.resolve()
        jsonschema.validate(yaml.safe_load(text) or {}, schema)
    assert fl("config", "validate", "--no-import", cwd=project).returncode == 0


def test_the_shipped_schema_is_fresh() -> None:
    """docs/fluxloop-config.schema.json is generated: `make schema` rewrites it."""
    assert SHIPPED.read_text(encoding="utf-8") == json_schema_text(), (
        "docs/fluxloop-config.schema.json is stale: run `make schema`"
    )


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (INVALID["python-path"], "runner.python_path: expected a path or a list of paths, found 3"),
        (
            INVALID["http-runner"],
            "runner.http: HTTP runners are not supported; expose a Python callable",
        ),
        (INVALID["base-input"], "base_inputs[0].input: required key is missing"),
        (
            {"base_inputs": [3]},
            "base_inputs[0]: expected a mapping with 'input' or a string, found 3 (an integer)",
        ),
        (
            INVALID["evaluator-type"],
            "evaluators[0].type: unknown evaluator type 'rule_base' (did you mean 'rule_based'?)",
        ),
        ({"evaluators": [{"name": "x"}]}, "evaluators[0]: missing type (one of rule_based"),
        (
            INVALID["evaluator-weight"],
            "evaluators[0].weight: expected a number >= 0, found 'heavy'",
        ),
        (
            INVALID["judge-parser"],
            "evaluators[0].parser: expected one of first_number_1_10, json_score, first_float, "
            "found 'json_scor' (did you mean 'json_score'?)",
        ),
        (INVALID["generation"], "input_generation.llm.max_tokens: expected an integer >= 1"),
        (
            INVALID["cassette-mode"],
            "cassette.mode: expected one of record, replay, auto, off, found 'replay-all'",
        ),
        ({"tags": ["a", ["b"]]}, "tags[1]: expected a string, found a list"),
        ({"max_retries": 3}, "max_retries: unknown key (did you mean 'runner.max_retries'?)"),
        ({"limits": {"concurency": 3}}, "limits.concurency: unknown key (did you mean"),
        ({"runner": {"executor": "kubernetes"}}, "runner.executor: expected one of local, ray"),
    ],
)
def test_pydantic_errors_read_as_one_line_each(data: dict[str, Any], line: str) -> None:
    problems = [str(p) for p in validate_config(data, require_target=False).problems]
    assert any(line in p for p in problems), problems


def test_unknown_keys_without_a_match_warn_in_every_section() -> None:
    report = validate_config(
        {"runner": {"target": "a:b", "team_note": 1}, "evaluators": [], "zzz": 1},
    )
    assert not report.problems
    assert sorted(w.key for w in report.warnings) == ["runner.team_note", "zzz"]
