"""Line-preserving YAML edits (config set keeps comments)."""

from __future__ import annotations

import pytest

from fluxloop.errors import ConfigError
from fluxloop.project.yaml import parse_cli_value, set_yaml_value

DOC = """\
# top comment
name: demo  # the name
runner:
  target: "a:b"   # keep me
  # timeout_seconds: 3
personas:
  - name: x
    description: |
      multi
      line
empty:
nested: {a: 1}
iterations: 3
"""


@pytest.mark.parametrize(
    ("key", "value", "expect_line"),
    [
        ("iterations", 20, "iterations: 20"),
        ("runner.target", "my:run", '  target: "my:run"   # keep me'),
        ("runner.timeout_seconds", 300, "  timeout_seconds: 300"),
        ("multi_turn.enabled", True, "  enabled: true"),
        ("empty.x", "y", "  x: y"),
        ("personas.0.description", "single", "    description: single"),
        ("nested.a", 2, "nested: {a: 2}"),
        ("name", "true", "name: 'true'  # the name"),
    ],
)
def test_set_keeps_everything_else(key: str, value: object, expect_line: str) -> None:
    out = set_yaml_value(DOC, key, value)
    assert expect_line in out.splitlines()
    for line in ("# top comment", "  # timeout_seconds: 3"):
        assert line in out.splitlines()


def test_set_refuses_collections_and_scalars_in_the_path() -> None:
    with pytest.raises(ConfigError, match="is a mapping"):
        set_yaml_value(DOC, "runner", 1)
    with pytest.raises(ConfigError, match="not a mapping"):
        set_yaml_value(DOC, "iterations.x", 1)


def test_empty_documents_and_value_typing() -> None:
    assert set_yaml_value("", "a.b", 1) == "a:\n  b: 1\n"
    assert set_yaml_value("a: 1", "b", 2) == "a: 1\nb: 2\n"
    assert parse_cli_value("20") == 20
    assert parse_cli_value("0.5") == 0.5
    assert parse_cli_value("TRUE") is True
    assert parse_cli_value("null") is None
    assert parse_cli_value("[a, b]") == ["a", "b"]
    assert parse_cli_value("my_agent:run") == "my_agent:run"
