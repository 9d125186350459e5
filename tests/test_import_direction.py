"""Dependencies point one way (README, "Architecture"), read from the source by
``scripts/import_graph.py``.

Three rules: (1) imports only point down the layers (layers of one rank never import each
other); (2) no import of another package's private (``_``) module; (3) no module cycles,
function-level imports included (a function-level import cannot hide a cycle; one that closes
no cycle, like the CLI's lazy imports, is fine).

``KNOWN_VIOLATIONS`` lists today's breaches with the engineer who removes each; an entry that
no longer occurs fails the test too, so the list only shrinks.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: breach key (as ``ImportGraph.violations()`` names it) -> who removes it
KNOWN_VIOLATIONS: dict[str, str] = {
    # multi-turn reaches the engine's internals
    "cycle: fluxloop.runner.engine, fluxloop.runner.multiturn": "runner-seams",
}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts/import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


import_graph = _load_script()


@pytest.fixture(scope="module")
def graph() -> Any:
    return import_graph.ImportGraph.scan()


def test_no_new_violations(graph: Any) -> None:
    found = graph.violations()
    new = {key: rows for key, rows in found.items() if key not in KNOWN_VIOLATIONS}
    assert not new, "imports against the direction (README, Architecture):\n" + "\n".join(
        f"  {key}: {', '.join(rows)}" for key, rows in new.items()
    )


def test_known_violations_still_occur(graph: Any) -> None:
    found = graph.violations()
    gone = [f"{key} ({owner})" for key, owner in KNOWN_VIOLATIONS.items() if key not in found]
    assert not gone, "fixed: remove from KNOWN_VIOLATIONS: " + "; ".join(gone)


def test_every_module_has_a_layer(graph: Any) -> None:
    modules = graph.modules
    unplaced = sorted(m for m in modules if import_graph.layer_of(m) not in import_graph.RANK)
    assert not unplaced, f"place these in scripts/import_graph.py LAYERS: {unplaced}"


def test_layers_are_the_documented_ones() -> None:
    assert import_graph.LAYERS == (
        ("semconv",),
        ("exporters",),
        ("base",),
        ("sdk",),
        ("integrations",),
        ("project", "llm"),
        ("cassette",),
        ("runner", "generation", "analysis", "collector"),
        ("ui",),
        ("pytest_plugin",),
        ("cli",),
        ("fluxloop_cli", "launcher"),
    )
    layer_of = import_graph.layer_of
    assert layer_of("fluxloop") == layer_of("fluxloop.models") == "sdk"
    assert layer_of("fluxloop.schemas") == layer_of("fluxloop.sdk._runtime") == "sdk"
    assert layer_of("fluxloop.errors") == layer_of("fluxloop._files") == "base"
    assert layer_of("fluxloop.integrations.langchain") == "integrations"
    assert layer_of("fluxloop.integrations.pytest_plugin._runner") == "pytest_plugin"
    assert layer_of("fluxloop_exporters._json") == "exporters"
    assert layer_of("fluxloop_launcher") == "launcher"


def test_readme_shows_the_layers() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = " < ".join(", ".join(rank) for rank in import_graph.LAYERS)
    assert line in readme, f"README's Architecture section should show: {line}"


# --- the scanner itself, on a small tree ------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Any:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return import_graph.ImportGraph.scan((tmp_path,))


def test_a_function_level_import_cannot_hide_a_cycle(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path,
        {
            "fluxloop/__init__.py": "",
            "fluxloop/sdk/__init__.py": "",
            "fluxloop/sdk/a.py": "from fluxloop.sdk import b\n",
            "fluxloop/sdk/b.py": "def f():\n    from fluxloop.sdk.a import x\n",
        },
    )
    assert graph.violations() == {
        "cycle: fluxloop.sdk.a, fluxloop.sdk.b": [
            "fluxloop.sdk.a:1 fluxloop.sdk.b",
            "fluxloop.sdk.b:2 fluxloop.sdk.a (function-level)",
        ]
    }


def test_function_level_imports_that_close_no_cycle_are_fine(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path,
        {
            "fluxloop/__init__.py": "",
            "fluxloop/cli/__init__.py": "def main():\n    from fluxloop.runner import engine\n",
            "fluxloop/runner/__init__.py": "",
            "fluxloop/runner/engine.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from fluxloop.runner import other\n",
            "fluxloop/runner/other.py": "from fluxloop.runner import engine\n",
        },
    )
    assert graph.violations() == {}


def test_upward_sideways_and_private_imports_are_named(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path,
        {
            "fluxloop/__init__.py": "from fluxloop.sdk._runtime import configure\n",
            "fluxloop/_files.py": "",
            "fluxloop/sdk/__init__.py": "from ._runtime import configure\n",
            "fluxloop/sdk/_runtime.py": "from fluxloop import _files\nconfigure = 1\n",
            "fluxloop/sdk/spans.py": "from fluxloop.runner import engine\n",
            "fluxloop/runner/__init__.py": "",
            "fluxloop/runner/engine.py": "from fluxloop.analysis import stats\n"
            "from fluxloop.sdk import configure\n",
            "fluxloop/analysis/__init__.py": "",
            "fluxloop/analysis/stats.py": "from ..sdk._runtime import configure\n",
        },
    )
    assert graph.violations() == {
        "analysis -> fluxloop.sdk._runtime": ["fluxloop.analysis.stats:1"],
        "runner -> analysis": ["fluxloop.runner.engine:1 fluxloop.analysis.stats"],
        "sdk -> fluxloop.sdk._runtime": ["fluxloop:1"],
        "sdk -> runner": ["fluxloop.sdk.spans:1 fluxloop.runner.engine"],
    }
