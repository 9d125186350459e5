"""The one ``.env`` parser (python-dotenv's) and the one way of applying it (fluxloop.sdk.envfile).

Before, the SDK (``sdk/_config.py``) and the project (``project/envfiles.py``) each had a parser;
the cases below are the ones where they disagreed (noted per line), now read one way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fluxloop.sdk.envfile import (
    applied_environ,
    apply_environ,
    entries,
    parse_dotenv,
    read_dotenv,
    restore_environ,
)

DISPUTED = (
    # the SDK kept '"x"' (quotes and all), the project too
    'QUOTED_THEN_COMMENT="x" # a comment\n'
    # the SDK kept the backslash-n; the project decoded it
    'ESCAPED_NEWLINE="line1\\nline2"\n'
    # the SDK kept the backslashes; the project decoded them
    'ESCAPED_QUOTES="say \\"hi\\" \\\\ bye"\n'
    # both read '"first' and dropped the second line
    'MULTILINE="first\nsecond"\n'
    # the SDK accepted any text before '=' as a key after stripping "export "
    "export   EXPORTED=3\n"
)


def test_the_cases_the_two_parsers_disagreed_on() -> None:
    assert parse_dotenv(DISPUTED) == {
        "QUOTED_THEN_COMMENT": "x",
        "ESCAPED_NEWLINE": "line1\nline2",
        "ESCAPED_QUOTES": 'say "hi" \\ bye',
        "MULTILINE": "first\nsecond",
        "EXPORTED": "3",
    }


def test_the_cases_they_agreed_on_stay() -> None:
    text = (
        "# comment\n"
        "export A=1\n"
        'B="two words"\n'
        "C=three # trailing\n"
        "D=a#b\n"
        "E = spaced  \n"
        "F=\n"
        "broken line\n"
        "SINGLE='a\\nb'\n"
        "\n"
    )
    assert parse_dotenv(text) == {
        "A": "1",
        "B": "two words",
        "C": "three",
        "D": "a#b",
        "E": "spaced",
        "F": "",
        "SINGLE": "a\\nb",
    }


def test_values_are_literal_no_interpolation() -> None:
    assert parse_dotenv("HOME_DIR=${HOME}/x\nPASSWORD='p$ss${word}'\n") == {
        "HOME_DIR": "${HOME}/x",
        "PASSWORD": "p$ss${word}",
    }


def test_last_assignment_wins_and_bad_lines_set_nothing() -> None:
    assert parse_dotenv('A=1\nA=2\nB="unterminated\nC=3\n') == {"A": "2", "C": "3"}
    assert parse_dotenv("NOVALUE\n") == {}


def test_entries_cover_the_text_exactly() -> None:
    text = "# head\n\n  A=1  # note\nB='x'\nM=\"a\nb\"\ntrailing"
    found = entries(text)
    assert "".join(text[e.start : e.end] for e in found) == text
    keyed = {e.key: text[e.body : e.end] for e in found if e.value is not None}
    assert keyed == {"A": "A=1  # note\n", "B": "B='x'\n", "M": 'M="a\nb"\n'}


def test_read_dotenv_missing_unreadable_or_a_directory(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path / "missing") == {}
    assert read_dotenv(tmp_path) == {}
    (tmp_path / ".env").write_bytes(b"A=\xff\xfe\n")
    assert read_dotenv(tmp_path / ".env") == {}


def test_apply_keeps_set_variables_unless_override_and_restores() -> None:
    environ = {"KEEP": "env", "OTHER": "x"}
    saved = apply_environ({"KEEP": "file", "NEW": "file"}, environ=environ)
    assert environ == {"KEEP": "env", "OTHER": "x", "NEW": "file"}
    assert saved == {"NEW": None}
    saved2 = apply_environ({"KEEP": "file"}, override=True, environ=environ)
    assert environ["KEEP"] == "file" and saved2 == {"KEEP": "env"}
    restore_environ(saved2, environ=environ)
    restore_environ(saved, environ=environ)
    assert environ == {"KEEP": "env", "OTHER": "x"}


def test_applied_environ_restores_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXLOOP_TEST_KEEP", "env")
    monkeypatch.delenv("FLUXLOOP_TEST_NEW", raising=False)
    with (
        pytest.raises(RuntimeError),
        applied_environ({"FLUXLOOP_TEST_KEEP": "file", "FLUXLOOP_TEST_NEW": "file"}, override=True),
    ):
        assert os.environ["FLUXLOOP_TEST_KEEP"] == "file"
        assert os.environ["FLUXLOOP_TEST_NEW"] == "file"
        raise RuntimeError
    assert os.environ["FLUXLOOP_TEST_KEEP"] == "env"
    assert "FLUXLOOP_TEST_NEW" not in os.environ


def test_only_this_module_uses_the_parser() -> None:
    """python-dotenv is reached through fluxloop.sdk.envfile only (one parser, one reading)."""
    import re

    root = Path(__file__).resolve().parents[2]
    the_module = root / "src" / "fluxloop" / "sdk" / "envfile.py"
    assert the_module.is_file()
    pattern = re.compile(r"^\s*(from dotenv\b|import dotenv\b)", re.M)
    offenders = [
        str(path.relative_to(root))
        for base in ("src", "exporters/src")
        for path in (root / base).rglob("*.py")
        if path != the_module and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
