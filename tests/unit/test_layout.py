"""The layout keeps its promises: no import cycle among occsim's modules (lazy and
TYPE_CHECKING imports count), scenarios import nothing of occsim but the scenario API, and no
module but node/profiles.py compares generation numbers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = ("node", "transport", "cluster")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("occsim",) + (parts[:-1] if parts[-1] == "__init__" else parts))


def imports(path: Path, known: set[str]) -> set[str]:
    """The occsim modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    known = set(files)
    return {name: imports(path, known) - {name} for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back():
    assert cycles(graph()) == []


def test_scenarios_import_only_the_scenario_api():
    known = {module_name(p) for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    for path in sorted((ROOT / "scenarios").glob("*.py")):
        assert imports(path, known) <= {"occsim.cluster", "occsim.cluster.scenario"}, path.name


def test_only_the_profiles_compare_generations():
    comparison = re.compile(r"\bmajor\s*(==|!=|<=|>=|<|>|in\b)|(==|!=|<=|>=|<|>)\s*[\w.]*\bmajor\b")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             if path != ROOT / "node" / "profiles.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if comparison.search(line)]
    assert found == []
