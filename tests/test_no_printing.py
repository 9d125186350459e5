"""The libraries never draw on the terminal: presentation is the CLI's (``fluxloop.cli.render``).

Reads the source of runner/, generation/, analysis/, project/ and llm/ (AST, not regexes, so
docstrings and comments do not count) for ``print(...)``, ``sys.stdout`` / ``sys.stderr`` (and
their ``__`` twins), ``click.echo`` / ``click.secho`` and ``rich`` imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("runner", "generation", "analysis", "project", "llm")

#: "path:line-free description" -> why it is not presentation (keep it short and rare)
ALLOWED: dict[str, str] = {}

_STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}


def terminal_writes(source: str) -> list[str]:
    """What in ``source`` writes to the terminal: ``line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("print", "pprint"):
                found.append(f"{node.lineno}: {node.func.id}()")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr in _STREAMS:
                found.append(f"{node.lineno}: sys.{node.attr}")
            elif node.value.id == "click" and node.attr in ("echo", "secho"):
                found.append(f"{node.lineno}: click.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            top = node.module.split(".")[0]
            if top in ("rich", "click") or (node.module == "sys" and _imports_stream(node)):
                found.append(f"{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("rich", "click"):
                    found.append(f"{node.lineno}: import {alias.name}")
    return found


def _imports_stream(node: ast.ImportFrom) -> bool:
    return any(alias.name in _STREAMS for alias in node.names)


def test_the_checker_finds_each_kind_of_terminal_write() -> None:
    source = (
        "import sys\nimport click\nfrom rich.console import Console\nfrom sys import stderr\n"
        "print('x')\nsys.stderr.write('x')\nclick.echo('x')\n"
        "'''print(docstrings) and sys.stdout do not count'''\n"
    )
    assert sorted(terminal_writes(source)) == [
        "2: import click",
        "3: from rich.console import",
        "4: from sys import",
        "5: print()",
        "6: sys.stderr",
        "7: click.echo",
    ]


def test_libraries_do_not_write_to_the_terminal() -> None:
    offenders = []
    for package in LIBRARIES:
        for path in sorted((ROOT / "src" / "fluxloop" / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for hit in terminal_writes(path.read_text(encoding="utf-8")):
                if f"{rel}:{hit.split(': ', 1)[1]}" not in ALLOWED:
                    offenders.append(f"{rel}:{hit}")
    assert not offenders, (
        "libraries report through callbacks/events and return data; draw in "
        "fluxloop.cli.render instead:\n  " + "\n  ".join(offenders)
    )
