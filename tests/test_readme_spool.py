"""The README's default spool path is the one the code uses (issue #12 point 17)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fluxloop_exporters._otlp import default_spool_dir


def test_readme_spool_default_matches_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"\| `spool_dir` \| `FLUXLOOP_SPOOL_DIR` \| `\{base_path\}/([^`]+)` \|", readme
    )
    assert match is not None, "the README's settings table has no spool_dir row"
    monkeypatch.delenv("FLUXLOOP_SPOOL_DIR", raising=False)
    monkeypatch.setenv("FLUXLOOP_BASE_PATH", str(tmp_path))
    spool = default_spool_dir("http://localhost:4318")
    assert spool.parent == tmp_path / match.group(1)
