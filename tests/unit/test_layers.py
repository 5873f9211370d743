"""The layers of docs/architecture.md, read from the source: no import cycle, the store below the manifest.

Every import counts, at the top of a module or inside a function, under ``TYPE_CHECKING`` too: a
lazy import still ties the two modules together, it only hides the knot from the interpreter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import batch

ROOT = Path(batch.__file__).resolve().parent


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package) for every module under batch/."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in ROOT.rglob("*.py"):
        parts = ["batch", *path.relative_to(ROOT).with_suffix("").parts]
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _owner(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    """The module of batch/ that ``name`` (a module or a name in one) lives in, if any."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The dotted names an import statement reaches (``from m import n`` gives ``m.n``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        base = ".".join([*parts[:len(parts) - node.level + 1], *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of batch/ it imports anywhere in its text."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        here = name if package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets.update(filter(None, (_owner(n, modules) for n in _imported(node, here))))
        graph[name] = targets - {name}
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` leads to through one import or more."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other (each sorted, more than one module), sorted."""
    reach = {node: _reach(graph, node) for node in graph}
    groups = {tuple(sorted({node} | {other for other in reach[node] if node in reach.get(other, ())}))
              for node in graph if node in reach[node]}
    return sorted(list(group) for group in groups)


def test_the_finder_sees_a_cycle() -> None:
    """The check below can fail: a made-up graph with a knot of three is reported, the rest is not."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_in_batch() -> None:
    """No two modules of batch/ import each other, directly or around a loop."""
    knots = {" <-> ".join(c): {m: sorted(import_graph()[m] & set(c)) for m in c} for c in cycles(import_graph())}
    assert knots == {}


def test_the_store_imports_no_layer_above_it() -> None:
    """``store/`` reads and writes plain values: it imports only ``core/``, ``config``, ``errors`` and itself."""
    allowed = ("batch.store", "batch.core", "batch.config", "batch.errors")
    above = {name: sorted(t for t in targets if not t.startswith(allowed))
             for name, targets in import_graph().items() if name.startswith("batch.store")}
    assert {name: targets for name, targets in above.items() if targets} == {}
