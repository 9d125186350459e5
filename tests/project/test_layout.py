"""The experiment directory's file names are defined once (fluxloop.project.layout)."""

from __future__ import annotations

import re
from pathlib import Path

from fluxloop.project import layout

ROOT = Path(__file__).resolve().parents[2]


def test_names_are_defined_only_in_the_layout_module() -> None:
    names = "|".join(
        re.escape(value)
        for key, value in vars(layout).items()
        if key.endswith(("_FILE", "_DIR")) and isinstance(value, str)
    )
    # a name joined onto a path (`dir / "summary.json"`) or bound to a constant
    pattern = re.compile(rf'(/\s*|^\s*[A-Z_]*(FILE|DIR|OUTPUT)\s*=\s*)"({names})"', re.M)
    module = ROOT / "src" / "fluxloop" / "project" / "layout.py"
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in (ROOT / "src").rglob("*.py")
        if path != module
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_names_are_the_documented_ones() -> None:
    assert (layout.SUMMARY_FILE, layout.TRACE_SUMMARY_FILE, layout.OBSERVATIONS_FILE) == (
        "summary.json",
        "trace_summary.jsonl",
        "observations.jsonl",
    )
    assert (layout.EVALUATION_DIR, layout.PARSE_DIR, layout.PER_TRACE_FILE) == (
        "evaluation",
        "per_trace_analysis",
        "per_trace.jsonl",
    )
