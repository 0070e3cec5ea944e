"""The package's import graph has no cycle (static: every ``import`` in every module, function-level too).

Imports under ``if TYPE_CHECKING:`` count as well: a type-only back-arrow is still a back-arrow in the design
(it is what lets a lower layer name a higher one). An edge to a package means its ``__init__``; an edge
``from pkg import name`` where ``name`` is a submodule also reaches that submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import torchestimator

PACKAGE_DIR = Path(torchestimator.__file__).parent
PACKAGE = "torchestimator"

# Cycles that remain, each with why it could not be broken yet.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve_relative(current: str, is_package: bool, level: int, target: str | None) -> str:
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every package module ``name`` imports (module level, function level, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(name, is_package, node.level, node.module)
            # ``from pkg import sub`` imports the submodule; ``from pkg import name`` runs pkg/__init__
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        for target in targets:
            # the deepest package module the target names (``a.b.func`` -> ``a.b``)
            parts = target.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and parts[0] == PACKAGE:
                found.add(".".join(parts))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative); components with more than one module, or a self-loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out


def _cycle_path(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One concrete cycle inside ``component``, for the failure message."""
    start = min(component)
    path, seen = [start], {start}
    node = start
    while True:
        nxt = sorted(c for c in graph[node] if c in component)
        back = [c for c in nxt if c == start]
        if back and len(path) > 1:
            return [*path, start]
        fresh = [c for c in nxt if c not in seen]
        node = fresh[0] if fresh else nxt[0]
        if node in seen:
            return [*path[path.index(node) :], node]
        path.append(node)
        seen.add(node)


def test_the_walk_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from torchestimator.sub import b\n    return b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    modules = {module_name_in(tmp_path, p): p for p in sorted((tmp_path / PACKAGE).rglob("*.py"))}
    graph = {n: imports_of(n, p, modules) for n, p in modules.items()}
    assert graph["torchestimator.sub"] == {"torchestimator.sub.a"}
    assert graph["torchestimator.sub.a"] == {"torchestimator.sub.b"}
    assert graph["torchestimator.sub.b"] == {"torchestimator.sub.a"}
    assert strongly_connected(graph) == [{"torchestimator.sub.a", "torchestimator.sub.b"}]


def module_name_in(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_no_import_cycle_in_the_package() -> None:
    graph = import_graph()
    cycles = [c for c in strongly_connected(graph) if frozenset(c) not in KNOWN_CYCLES]
    described = [" -> ".join(_cycle_path(graph, c)) + f"  (component of {len(c)})" for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(described)


def test_known_cycles_are_still_cycles() -> None:
    components = {frozenset(c) for c in strongly_connected(import_graph())}
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in components]
    assert not stale, f"these KNOWN_CYCLES no longer exist; remove them: {stale}"
