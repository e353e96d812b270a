"""The layout keeps the pipeline visible: no import cycles between the modules of ``router``
(imports inside functions count too), solvers grouped by kind, and only ``router`` installed."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "router"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                # the module itself, or the package whose __init__ it names
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != mod and not mod.startswith(name + "."):
                    graph[mod].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    graph = import_graph()
    # packages that only re-export (router, router.io, router.cli) are left out: importing
    # the package is what a user does, not a dependency of the stages
    facades = {"router", "router.io", "router.cli", "router.solvers"}
    graph = {m: {d for d in deps if d not in facades} for m, deps in graph.items()
             if m not in facades}
    assert cycles(graph) == []


def test_stages_do_not_reach_downstream() -> None:
    graph = import_graph()
    # compilation and validation never look at solvers, plans or the verifier
    for stage in ("router.validate", "router.records", "router.instance", "router.compile",
                  "router.geo"):
        bad = {d for d in graph[stage] if d.startswith(("router.solvers", "router.plan",
                                                        "router.verify", "router.solve"))}
        assert not bad, f"{stage} imports {bad}"
    # the verifier works from the instance alone, never from the compiled arrays
    assert not {d for d in graph["router.verify"] if d in ("router.compile", "router.evaluate")
                or d.startswith("router.solvers")}


def test_solvers_grouped_by_kind() -> None:
    kinds = {p.name for p in (PKG / "solvers").iterdir() if p.is_dir() and p.name[0] != "_"}
    assert {"heuristics", "bounds", "exact", "portfolio"} <= kinds


def test_only_router_is_installed() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'include = ["router*"]' in text


def test_no_merge_conflict_markers_in_the_sources_and_docs() -> None:
    marks = ("<<<<<<< ", ">>>>>>> ")
    files = [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *(ROOT / "instances").glob("*.md"),
             *(ROOT / "benchmarks").glob("*.md"), *PKG.rglob("*.py"),
             *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tests").glob("*.py")]
    bad = [f"{f.relative_to(ROOT)}:{k}" for f in files
           for k, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
           if line.startswith(marks) or line == "=" * 7]
    assert not bad, bad
