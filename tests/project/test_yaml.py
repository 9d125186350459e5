"""Unit tests of fluxloop.project.yaml: loading with key positions (editing: test_yamledit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fluxloop.errors import ConfigError
from fluxloop.project.yaml import (
    Located,
    YamlDoc,
    display_path,
    join_key,
    load_yaml_file,
    load_yaml_text,
    suggest,
)

TEXT = """\
name: demo
runner:
  target: app:run
  timeout_seconds: 5
evaluators:
  - name: a
    rules:
      - check: contains
  - name: b
"""


def test_join_key() -> None:
    assert join_key("", "a") == "a"
    assert join_key("a", "b") == "a.b"
    assert join_key("a", 0) == "a[0]"
    assert join_key("a[0]", "c") == "a[0].c"


def test_lines_of_nested_keys(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    doc = load_yaml_text(TEXT, path)
    assert doc.data["runner"]["timeout_seconds"] == 5
    assert doc.lines["name"] == Located(path, 1)
    assert doc.lines["runner.timeout_seconds"].line == 4
    assert doc.lines["evaluators[1]"].line == 9
    assert doc.lines["evaluators[0].rules[0].check"].line == 8
    assert doc.duplicates == []


def test_locate_falls_back_to_nearest_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = load_yaml_text(TEXT, tmp_path / "s.yaml")
    assert doc.where("evaluators[0].rules[0].check") == "s.yaml:8"
    assert doc.where("evaluators[0].rules[0].params.x") == "s.yaml:8"
    assert doc.where("evaluators[1].weight") == "s.yaml:9"
    assert doc.locate("missing.key") is None
    assert doc.where("missing.key") == "s.yaml"
    error = doc.error("evaluators[1].weight", "expected a number")
    assert str(error) == "s.yaml:9: evaluators[1].weight: expected a number"
    assert (error.key, error.where) == ("evaluators[1].weight", "s.yaml:9")
    assert YamlDoc(tmp_path / "x.yaml", None).where("a") == "x.yaml"


def test_suggest_names_the_nearest_choice() -> None:
    assert suggest("contians", ["contains", "regex"]) == " (did you mean 'contains'?)"
    assert suggest("zzz", ["contains", "regex"]) == ""


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    doc = load_yaml_text("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", path)
    assert doc.data == {"a": 3, "b": {"c": 2}}
    assert [(key, first.line, again.line) for key, first, again in doc.duplicates] == [
        ("b.c", 3, 4),
        ("a", 1, 5),
    ]


def test_empty_document(tmp_path: Path) -> None:
    doc = load_yaml_text("", tmp_path / "s.yaml")
    assert doc.data is None
    assert doc.lines == {}


def test_syntax_error_has_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_yaml_text("a: 1\nb: [1, 2\nc: 3\n", tmp_path / "s.yaml")
    message = str(info.value)
    assert message.startswith("s.yaml:")
    assert ": invalid YAML: " in message
    assert "\n" not in message
    assert info.value.where is not None and info.value.where.startswith("s.yaml:")


def test_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^missing\.yaml: file not found$"):
        load_yaml_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^bad\.yaml: cannot read: "):
        load_yaml_file(tmp_path / "bad.yaml")
    (tmp_path / "ok.yaml").write_text("a: 1\n", encoding="utf-8")
    assert load_yaml_file(tmp_path / "ok.yaml").data == {"a": 1}


def test_display_path_outside_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    monkeypatch.chdir(inner)
    assert display_path(inner / "x.yaml") == "x.yaml"
    assert display_path(tmp_path / "y.yaml") == str(tmp_path / "y.yaml")
    assert str(Located(inner / "x.yaml", 3)) == "x.yaml:3"


# -- alias expansion bound ("billion laughs", issue #12 point 8) -------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_expansion_past_the_bound_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_text(billion_laughs(), Path("setting.yaml"))
    message = str(info.value)
    assert message.startswith("setting.yaml:1: YAML aliases expand to ")
    assert "\n" not in message


def test_modest_aliases_still_load() -> None:
    text = "base: &b {model: m, temperature: 0.2}\nuses: [*b, *b, *b]\n"
    assert load_yaml_text(text, Path("s.yaml")).data["uses"][2] == {
        "model": "m",
        "temperature": 0.2,
    }


def test_recursive_aliases_and_deep_nesting_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="recursive"):
        load_yaml_text("a: &a [1, *a]\n", Path("s.yaml"))
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml_text("[" * 3000 + "]" * 3000, Path("s.yaml"))


def test_every_yaml_read_goes_through_the_bounded_loader() -> None:
    """No module but fluxloop.project.yaml parses YAML itself (so none can skip the bound)."""
    import re

    root = Path(__file__).resolve().parents[2]
    the_module = root / "src" / "fluxloop" / "project" / "yaml.py"
    assert the_module.is_file()
    pattern = re.compile(r"yaml\.(safe_load|load|full_load|unsafe_load|compose)\b|SafeLoader\(")
    offenders = [
        str(path.relative_to(root))
        for base in ("src", "exporters/src")
        for path in (root / base).rglob("*.py")
        if path != the_module and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_safe_load_and_config_set_apply_the_bound() -> None:
    from fluxloop.project.yaml import safe_load, set_yaml_value

    with pytest.raises(ConfigError, match="aliases expand"):
        safe_load(billion_laughs(), "x.yaml")
    with pytest.raises(ConfigError, match="aliases expand"):
        set_yaml_value(billion_laughs(), "runner.timeout_seconds", 5, label="setting.yaml")
