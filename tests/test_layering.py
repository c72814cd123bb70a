"""The package's import graph: no circles, and imports only go down the layers of DESIGN.md.

The graph is read statically (``ast`` over every file of ``skewless/``), so a module imported
only inside a function or only for type checking counts too: each still ties one module to
another, and DESIGN.md asks for no circles at all ("if two modules need each other, a third,
lower one holds what they share"). Every edge keeps how it was made (``module`` level,
inside a ``function``, or under ``if TYPE_CHECKING``) for the failure messages.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skewless"

# DESIGN.md "Layers and the direction of imports", lowest first. A module belongs to the layer
# of the longest prefix naming it (``skewless.offline`` holds ``skewless.offline.spark.engine``);
# the bare package name holds only the package's ``__init__``.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "value types, errors and configuration",
        (
            "skewless._types",
            "skewless.types",
            "skewless.errors",
            "skewless._time",
            "skewless._files",
            "skewless._progress",
            "skewless._prefetch",
            "skewless._version",
            "skewless.config",
        ),
    ),
    ("definitions", ("skewless.definitions", "skewless.transforms")),
    ("registry", ("skewless.registry",)),
    (
        "backends",
        ("skewless._contracts", "skewless.backends", "skewless.offline", "skewless.online"),
    ),
    (
        "services",
        (
            "skewless.retrieval",
            "skewless.materialize",
            "skewless.materialize_rows",
            "skewless.push",
            "skewless.push_values",
            "skewless.compact",
            "skewless.audit",
            "skewless.audit_report",
            "skewless.audit_records",
            "skewless.datasets",
            "skewless.dataset_stats",
            # a saved dataset's profile is written with it: profiles sit below the rest of
            # monitoring (they read no logs, no models)
            "skewless.monitoring.profile",
            "skewless.monitoring.profile_build",
            "skewless.monitoring.profile_distinct",
            "skewless.monitoring.profile_parts",
            "skewless.monitoring.profile_store",
            "skewless.online_read",
            "skewless.online_response",
            "skewless.entity_rows",
            "skewless.planning",
            "skewless.on_demand",
            "skewless.window_online",
            "skewless.feature_refs",
            "skewless.embeddings",
            "skewless.repo",
        ),
    ),
    ("the FeatureStore facade", ("skewless.store",)),
    (
        "lifecycle, serving and ops",
        (
            "skewless.models",
            "skewless.serving",
            "skewless.monitoring",
            "skewless.experiments",
            "skewless.pipelines",
            "skewless.server",
            "skewless.cli",
            "skewless.demo",
            "skewless.client",
            "skewless.prediction_client",
            "skewless.ingest",
            "skewless.lineage",
            "skewless.ui",
        ),
    ),
    (
        "the public API (the package and Feast's module paths)",
        (
            "skewless",
            "skewless.data_source",
            "skewless.feature_logging",
            "skewless.on_demand_feature_view",
            "skewless.stream_feature_view",
            "skewless.infra",
        ),
    ),
]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    how: str  # "module", "function" or "type-checking"
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.how}, line {self.line})"


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``package``."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The names ``node`` imports, resolved to absolute dotted names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = module.split(".") if is_package else module.split(".")[:-1]
        parent = parent[: len(parent) - (node.level - 1)]
        base = ".".join([*parent, *([base] if base else [])])
    return [f"{base}.{alias.name}" for alias in node.names]


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ``name`` (``pkg.mod.func`` -> ``pkg.mod``), None outside the package."""
    while name not in modules:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_edges(package: Path) -> list[Edge]:
    """Every import of one module of ``package`` by another."""
    modules = module_files(package)
    edges: list[Edge] = []

    def visit(node: ast.AST, module: str, how: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                is_package = modules[module].name == "__init__.py"
                for name in _imported(module, is_package, child):
                    target = _owner(name, modules)
                    if target is not None and target != module:
                        edges.append(Edge(module, target, how, child.lineno))
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), module, "type-checking")
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), module, how)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, module, "function" if how == "module" else how)
            else:
                visit(child, module, how)

    for module, path in modules.items():
        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), module, "module")
    return edges


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        graph[edge.source].add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]], root: str) -> int | None:
    """The index in ``layers`` of the longest prefix naming ``module`` (None: unplaced)."""
    best: tuple[int, int] | None = None
    for number, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            named = module == prefix or (prefix != root and module.startswith(prefix + "."))
            if named and (best is None or len(prefix) > best[0]):
                best = (len(prefix), number)
    return None if best is None else best[1]


FACADE_DELEGATES = frozenset(
    {
        ("skewless.store", "skewless.serving.batch"),
        ("skewless.store", "skewless.pipelines.runner"),
        ("skewless.store", "skewless.pipelines.records"),
    }
)
"""Upward imports allowed: ``FeatureStore.predict_batch`` is the facade's entry point to batch
inference and ``FeatureStore.run_pipeline`` to the pipeline runner (one-line delegates
importing them inside the method, and the run record they return only for type checking);
the packages they call never import the facade, so no circle forms
(``test_no_import_circles``)."""


def upward(edges: list[Edge], layers: list[tuple[str, tuple[str, ...]]], root: str) -> list[str]:
    """Each import of a module by one of a lower layer, described."""
    found = []
    for edge in edges:
        delegate = edge.how in ("function", "type-checking")
        if (edge.source, edge.target) in FACADE_DELEGATES and delegate:
            continue
        low, high = layer_of(edge.source, layers, root), layer_of(edge.target, layers, root)
        if low is not None and high is not None and high > low:
            found.append(f"{edge} imports {layers[high][0]!r} from {layers[low][0]!r}")
    return found


def _explain(component: list[str], edges: list[Edge]) -> str:
    members = set(component)
    inside = [str(e) for e in edges if e.source in members and e.target in members]
    return " <-> ".join(component) + ":\n    " + "\n    ".join(inside)


# -- the package ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return import_edges(PACKAGE)


def test_no_import_circles(edges: list[Edge]) -> None:
    found = cycles(edges)
    assert not found, "import circles (move what both sides need to a lower module):\n" + (
        "\n".join(_explain(c, edges) for c in found)
    )


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in module_files(PACKAGE) if layer_of(m, LAYERS, "skewless") is None]
    assert not unplaced, f"modules in no layer of LAYERS (place them as DESIGN.md says): {unplaced}"


def test_imports_go_down_the_layers(edges: list[Edge]) -> None:
    found = upward(edges, LAYERS, "skewless")
    assert not found, "a lower layer imports a higher one:\n" + "\n".join(found)


def test_the_graph_sees_the_known_imports(edges: list[Edge]) -> None:
    """The graph is the package's: a few imports it must hold, each made the way it is."""
    seen = {(e.source, e.target, e.how) for e in edges}
    assert ("skewless.store", "skewless.registry", "module") in seen
    assert ("skewless.store", "skewless.retrieval", "function") in seen
    assert ("skewless.store", "skewless.audit_report", "type-checking") in seen
    assert ("skewless.materialize", "skewless.offline.spark.materialize", "module") in seen


# -- the checks themselves, on a package made for them ----------------------------------------
def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_circles_through_functions_and_type_checking_are_found(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def f():\n    from . import c\n",
            "pkg/c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import X\n"
            ),
            "pkg/d.py": "import pkg.a\n",
        },
    )
    found = import_edges(package)
    assert {(e.source, e.target, e.how) for e in found} == {
        ("pkg.a", "pkg.b", "module"),
        ("pkg.b", "pkg.c", "function"),
        ("pkg.c", "pkg.a", "type-checking"),
        ("pkg.d", "pkg.a", "module"),
    }
    assert cycles(found) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.top import T\n",
            "pkg/low/__init__.py": "",
            "pkg/low/x.py": "from ..top import T\n",
            "pkg/top.py": "from pkg.low.x import X\n",
        },
    )
    layers = [("low", ("pkg.low",)), ("top", ("pkg.top",)), ("root", ("pkg",))]
    assert layer_of("pkg.low.x", layers, "pkg") == 0
    assert layer_of("pkg", layers, "pkg") == 2
    assert layer_of("pkg.other", layers, "pkg") is None
    found = upward(import_edges(package), layers, "pkg")
    assert found == ["pkg.low.x -> pkg.top (module, line 1) imports 'top' from 'low'"]
