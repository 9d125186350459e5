"""The viewer's assets ship in the wheel (no CDN, no Node toolchain at install time)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "src" / "fluxloop" / "ui" / "static"
ASSETS = {"index.html", "app.css", "app.js"}


def test_assets_reference_nothing_outside_the_viewer() -> None:
    assert {p.name for p in STATIC.iterdir()} == ASSETS
    for name in ASSETS:
        text = (STATIC / name).read_text(encoding="utf-8")
        # no CDN, no remote font, no external script: every URL is our own path
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name
        assert "@import" not in text and "url(http" not in text, name


def test_assets_are_in_the_wheel(tmp_path: Path) -> None:
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed: the wheel itself was not built")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run(
        [*pip, "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("fluxloop-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = next(zf.read(n).decode() for n in names if n.endswith("METADATA"))
    assert {f"fluxloop/ui/static/{n}" for n in ASSETS} <= names
    assert "Provides-Extra: ui" in metadata
