"""Print FluxLoop's import graph, read from the source (nothing is imported or executed).

    python scripts/import_graph.py            # layer -> layer edges with their import counts
    python scripts/import_graph.py --modules  # also module cycles, local imports, private reach-ins

The direction it should show (README, "Architecture"; ``LAYERS`` below): semconv < exporters <
base < sdk < integrations < project, llm < cassette < runner, generation, analysis, collector < ui
< pytest_plugin < cli < fluxloop_cli, launcher; no private module reached from outside its
package; no module cycles, function-level imports included.
tests/test_import_direction.py enforces it with this same scanner.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_OURS = {"fluxloop", "fluxloop_exporters", "fluxloop_semconv", "fluxloop_cli", "fluxloop_launcher"}
SOURCE_ROOTS = (ROOT / "src", ROOT / "exporters" / "src", ROOT / "semconv" / "src")


@dataclass(frozen=True)
class Import:
    """One ``import``/``from`` statement naming a FluxLoop module."""

    module: str  # the importing module
    target: str  # the imported module (resolved, absolute)
    line: int
    function_level: bool
    type_checking: bool

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line}"


#: The layers, bottom to top. A module may import its own layer and any layer of a lower rank;
#: layers sharing a rank (runner, generation, analysis, collector) never import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("semconv",),
    ("exporters",),
    ("base",),  # fluxloop.errors, fluxloop._files
    ("sdk",),  # fluxloop.sdk and the public facade: fluxloop, fluxloop.models, fluxloop.schemas
    ("integrations",),  # langchain, langgraph, distro, instrumentor (not the pytest plugin)
    ("project", "llm"),
    ("cassette",),
    ("runner", "generation", "analysis", "collector"),
    ("ui",),
    ("pytest_plugin",),  # its template is written by ``fluxloop init``
    ("cli",),
    ("fluxloop_cli", "launcher"),  # entry points: the original's import paths, the console script
)
RANK = {layer: rank for rank, layers in enumerate(LAYERS) for layer in layers}

_BASE = {"errors", "_files", "_stats"}
_FACADE = {"models", "schemas", "__main__"}


def layer_of(module: str) -> str:
    """The layer a module belongs to (``fluxloop.runner.engine`` -> ``runner``)."""
    parts = module.split(".")
    if parts[0] == "fluxloop_launcher":
        return "launcher"
    if parts[0] == "fluxloop_cli":
        return "fluxloop_cli"
    if parts[0] in {"fluxloop_exporters", "fluxloop_semconv"}:
        return parts[0].removeprefix("fluxloop_")
    if len(parts) == 1 or parts[1] in _FACADE:
        return "sdk"
    if parts[1] in _BASE:
        return "base"
    if parts[1] == "integrations" and len(parts) > 2 and parts[2] == "pytest_plugin":
        return "pytest_plugin"
    return parts[1]


def private_owner(module: str) -> str | None:
    """The package a private module belongs to (``fluxloop.sdk._runtime`` -> ``fluxloop.sdk``),
    or None for a public module. Only that package (in the same layer) may import it."""
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, package: str, known: set[str]) -> None:
        self.module, self.package, self.known = module, package, known
        self.found: list[Import] = []
        self._depth = 0
        self._type_checking = 0

    def _visit_scope(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_scope

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._type_checking += 1
            for child in node.body:
                self.visit(child)
            self._type_checking -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, line: int) -> None:
        if target.partition(".")[0] in _OURS:
            self.found.append(
                Import(self.module, target, line, self._depth > 0, self._type_checking > 0)
            )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            self._add(candidate if candidate in self.known else source, node.lineno)


@dataclass
class ImportGraph:
    """Every FluxLoop-to-FluxLoop import in the source tree."""

    imports: list[Import] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)

    @classmethod
    def scan(cls, roots: tuple[Path, ...] = SOURCE_ROOTS) -> ImportGraph:
        files: dict[str, tuple[Path, bool]] = {}
        for root in roots:
            for path in sorted(root.rglob("*.py")):
                files[_module_name(path, root)] = (path, _is_package(path))
        graph = cls(modules=set(files))
        for module, (path, is_package) in files.items():
            package = module if is_package else module.rpartition(".")[0]
            collector = _Collector(module, package, graph.modules)
            collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            graph.imports.extend(collector.found)
        return graph

    def layer_edges(self) -> Counter[tuple[str, str]]:
        edges: Counter[tuple[str, str]] = Counter()
        for found in self.imports:
            source, target = layer_of(found.module), layer_of(found.target)
            if source != target:
                edges[source, target] += 1
        return edges

    def function_level_imports(self) -> list[Import]:
        return [found for found in self.imports if found.function_level]

    def private_reach_ins(self) -> list[Import]:
        """Imports of a private (``_``) module from outside the package that owns it, or from
        another layer (``fluxloop._files`` belongs to ``fluxloop``: every FluxLoop module may
        import it; ``fluxloop.sdk._runtime`` only the SDK's own modules)."""
        reach_ins = []
        for found in self.imports:
            owner = private_owner(found.target)
            if owner is None:
                continue
            inside = found.module == owner or found.module.startswith(owner + ".")
            same_layer = layer_of(found.module) == layer_of(found.target)
            if not inside or (not same_layer and "." in owner):
                reach_ins.append(found)
        return reach_ins

    def upward_imports(self) -> list[Import]:
        """Imports of a higher layer, or of another layer of the same rank."""
        upward = []
        for found in self.imports:
            source, target = layer_of(found.module), layer_of(found.target)
            if source != target and RANK.get(target, -1) >= RANK.get(source, -1):
                upward.append(found)
        return upward

    def violations(self) -> dict[str, list[str]]:
        """Every breach of the three rules, keyed for an allow-list, with its ``module:line``s.

        Keys: ``"generation -> runner"`` (an import pointing up or sideways, by layer),
        ``"cli -> fluxloop.analysis._jsonl"`` (a private module reached from outside its
        package), ``"cycle: a, b"`` (a module cycle, function-level imports included).
        """
        found: dict[str, list[str]] = {}
        for imp in self.upward_imports():
            key = f"{layer_of(imp.module)} -> {layer_of(imp.target)}"
            found.setdefault(key, []).append(f"{imp.where} {imp.target}")
        for imp in self.private_reach_ins():
            key = f"{layer_of(imp.module)} -> {imp.target}"
            found.setdefault(key, []).append(imp.where)
        for group in self.module_cycles():
            found["cycle: " + ", ".join(group)] = self.cycle_edges(group)
        return {key: list(dict.fromkeys(rows)) for key, rows in sorted(found.items())}

    def cycle_edges(self, group: list[str]) -> list[str]:
        """The imports that make up the cycle ``group`` (``module:line target``)."""
        members = set(group)
        return [
            f"{imp.where} {imp.target}" + (" (function-level)" if imp.function_level else "")
            for imp in self.imports
            if imp.module in members
            and imp.target in members
            and imp.target != imp.module
            and not imp.type_checking
        ]

    def module_cycles(self, *, function_level: bool = True) -> list[list[str]]:
        """Strongly connected groups of modules, TYPE_CHECKING imports aside.

        Function-level imports count by default: an import moved into a function to dodge a cycle
        still closes it at run time, so it shows here.
        """
        edges: dict[str, set[str]] = {module: set() for module in self.modules}
        for found in self.imports:
            if found.function_level and not function_level:
                continue
            known = found.target in self.modules and found.target != found.module
            # a module importing its own package's __init__ is not a cycle worth reporting
            parent = found.module.startswith(found.target + ".")
            if known and not found.type_checking and not parent:
                edges[found.module].add(found.target)
        return [sorted(group) for group in _strongly_connected(edges) if len(group) > 1]


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _unique(imports: list[Import]) -> list[str]:
    return list(dict.fromkeys(f"{found.where} {found.target}" for found in imports))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--modules", action="store_true", help="also cycles, local imports, reach-ins, breaches"
    )
    args = parser.parse_args()
    graph = ImportGraph.scan()
    print("layers, bottom to top: " + " < ".join(", ".join(rank) for rank in LAYERS) + "\n")
    upward = {(layer_of(i.module), layer_of(i.target)) for i in graph.upward_imports()}
    for (source, target), count in sorted(
        graph.layer_edges().items(), key=lambda item: (-RANK.get(item[0][0], 99), item[0])
    ):
        mark = "  <- points up or sideways" if (source, target) in upward else ""
        print(f"{source:>14} -> {target:<14} {count:4d}{mark}")
    cycles = graph.module_cycles()
    summary = (
        f"\n{len(graph.layer_edges())} layer edges ({len(upward)} pointing up or sideways), "
        f"{len(cycles)} module cycles, {len(_unique(graph.private_reach_ins()))} private reach-ins"
    )
    print(summary)
    if args.modules:
        sections = (
            ("module cycles", [" -> ".join(group) for group in cycles]),
            ("function-level imports", _unique(graph.function_level_imports())),
            ("private reach-ins", _unique(graph.private_reach_ins())),
            ("imports pointing up or sideways", _unique(graph.upward_imports())),
        )
        for title, rows in sections:
            print(f"\n{title}: {len(rows)}")
            for row in rows:
                print(f"  {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
