"""The lineage graph of a repository: source -> view -> service -> dataset -> model version ->
alias -> experiment and prediction log, built from what the registry, the saved datasets and
MLflow record.

Each node is one object (``kind:name``); each edge says that its target was made from its
source, and carries the feature refs (``view:feature``) that travel along it when only some
do (a service takes some features of a view; a dataset and a model name theirs). An empty
edge carries everything its source holds.

:meth:`LineageGraph.impact` answers "what would a change to this feature break": it follows
the edges down from the feature's view, keeping only the edges that carry the feature, so a
service that takes other features of the same view is not hit. An on-demand view reading the
feature passes the change on to all its outputs.

Example:
    >>> from skewless.registry import RegistrySnapshot
    >>> graph = build_graph(LineageInputs(RegistrySnapshot(project="demo")))
    >>> graph.nodes
    {}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skewless.datasets import SavedDataset
from skewless.errors import UnknownObjectError
from skewless.experiments.records import ExperimentRecord
from skewless.models.versions import ModelVersionInfo
from skewless.registry import RegistrySnapshot

__all__ = [
    "KIND_COLUMNS",
    "Edge",
    "LineageGraph",
    "LineageInputs",
    "Node",
    "build_graph",
    "node_id",
]

KIND_COLUMNS: dict[str, int] = {
    "source": 0,
    "push_source": 0,
    "feature_view": 1,
    "on_demand_feature_view": 2,
    "feature_service": 3,
    "dataset": 4,
    "model_version": 5,
    "alias": 6,
    "experiment": 7,
    "prediction_log": 7,
}
"""The column each kind of node is drawn in, upstream to downstream."""


@dataclass(frozen=True)
class Node:
    """One object of the graph.

    Attributes:
        id: ``kind:name`` (unique).
        kind: one of :data:`KIND_COLUMNS`.
        name: the object's name (``churn/3`` for a model version, ``churn@production``
            for an alias).
        features: the feature refs the object holds (views, on-demand views, services,
            datasets, model versions).
        missing: named by another object but not found (a deleted dataset, say).
    """

    id: str
    kind: str
    name: str
    features: tuple[str, ...] = ()
    missing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "features": list(self.features),
            "missing": self.missing,
        }


@dataclass(frozen=True)
class Edge:
    """``target`` was made from ``source``; ``features``: the refs that travel (empty: all)."""

    source: str
    target: str
    features: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "features": list(self.features)}


@dataclass(frozen=True)
class LineageInputs:
    """What the graph is built from.

    Attributes:
        snapshot: the registry's definitions.
        datasets: the saved datasets.
        models: every registered model version (with its lineage and aliases).
        experiments: the experiment records.
        logs: names of the prediction logs in the repository (one per served model).
    """

    snapshot: RegistrySnapshot
    datasets: Sequence[SavedDataset] = ()
    models: Sequence[ModelVersionInfo] = ()
    experiments: Sequence[ExperimentRecord] = ()
    logs: Sequence[str] = ()


def node_id(kind: str, name: str) -> str:
    """``kind:name``.

    >>> node_id("feature_view", "user_stats")
    'feature_view:user_stats'
    """
    return f"{kind}:{name}"


@dataclass
class LineageGraph:
    """Nodes by id and the edges between them (see the module docstring)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    _out: dict[str, list[Edge]] = field(default_factory=dict, repr=False)
    _in: dict[str, list[Edge]] = field(default_factory=dict, repr=False)

    def add_node(self, node: Node) -> Node:
        """Add ``node`` unless a node of its id exists (a found node replaces a missing one)."""
        held = self.nodes.get(node.id)
        if held is None or (held.missing and not node.missing):
            self.nodes[node.id] = node
            return node
        return held

    def add_edge(self, edge: Edge) -> None:
        self.edges.append(edge)
        self._out.setdefault(edge.source, []).append(edge)
        self._in.setdefault(edge.target, []).append(edge)

    def outgoing(self, node: str) -> list[Edge]:
        return list(self._out.get(node, ()))

    def incoming(self, node: str) -> list[Edge]:
        return list(self._in.get(node, ()))

    def get(self, node: str) -> Node:
        """The node of id ``node``.

        Raises:
            UnknownObjectError: there is none.
        """
        found = self.nodes.get(node)
        if found is None:
            raise UnknownObjectError(
                f"nothing called {node!r} in the lineage graph: name a node as kind:name, "
                "e.g. feature_view:user_stats"
            )
        return found

    def _walk(self, start: str, step: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            current = todo.pop()
            edges = self._out.get(current, ()) if step == "down" else self._in.get(current, ())
            for edge in edges:
                nxt = edge.target if step == "down" else edge.source
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def around(self, node: str) -> LineageGraph:
        """The part of the graph ``node`` comes from and leads to (itself included).

        Raises:
            UnknownObjectError: no such node.
        """
        self.get(node)
        keep = self._walk(node, "up") | self._walk(node, "down")
        return self.subgraph(keep)

    def subgraph(self, keep: Iterable[str]) -> LineageGraph:
        """The nodes of ``keep`` and the edges between them."""
        wanted = set(keep)
        part = LineageGraph()
        for node_key in sorted(wanted):
            if node_key in self.nodes:
                part.add_node(self.nodes[node_key])
        for edge in self.edges:
            if edge.source in part.nodes and edge.target in part.nodes:
                part.add_edge(edge)
        return part

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "edges": [e.to_dict() for e in self.edges],
        }


def _projection_refs(projections: Iterable[Any]) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.view_name, tuple(p.refs)) for p in projections]


def _add_definitions(graph: LineageGraph, snapshot: RegistrySnapshot) -> None:
    for view in snapshot.feature_views.values():
        refs = tuple(f"{view.name}:{f}" for f in view.feature_names)
        vid = graph.add_node(
            Node(node_id("feature_view", view.name), "feature_view", view.name, refs)
        ).id
        path = view.batch_source.path
        graph.add_node(Node(node_id("source", path), "source", path))
        graph.add_edge(Edge(node_id("source", path), vid))
        push = view.push_source
        if push is not None:
            graph.add_node(Node(node_id("push_source", push.name), "push_source", push.name))
            graph.add_edge(Edge(node_id("push_source", push.name), vid))
    for odfv in snapshot.on_demand_feature_views.values():
        refs = tuple(f"{odfv.name}:{f}" for f in odfv.feature_names)
        oid = node_id("on_demand_feature_view", odfv.name)
        graph.add_node(Node(oid, "on_demand_feature_view", odfv.name, refs))
        for view_name, view_refs in _projection_refs(odfv.sources):
            graph.add_edge(Edge(_view_node(graph, snapshot, view_name), oid, view_refs))
    for service in snapshot.feature_services.values():
        sid = node_id("feature_service", service.name)
        graph.add_node(Node(sid, "feature_service", service.name, tuple(service.feature_refs)))
        for view_name, view_refs in _projection_refs(service.projections):
            graph.add_edge(Edge(_view_node(graph, snapshot, view_name), sid, view_refs))


def _view_node(graph: LineageGraph, snapshot: RegistrySnapshot, view_name: str) -> str:
    """The node of the view (or on-demand view) ``view_name``; a missing node when unknown."""
    if view_name in snapshot.on_demand_feature_views:
        return node_id("on_demand_feature_view", view_name)
    vid = node_id("feature_view", view_name)
    graph.add_node(Node(vid, "feature_view", view_name, missing=True))
    return vid


def _by_view(refs: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for ref in refs:
        grouped.setdefault(ref.partition(":")[0], []).append(ref)
    return grouped


def _add_trained(
    graph: LineageGraph,
    snapshot: RegistrySnapshot,
    name: str,
    refs: Sequence[str],
    service: str | None,
    missing: bool,
) -> str:
    """The dataset node ``name`` and the edges feeding it (through its service when the
    registry holds that service, else straight from its views)."""
    did = graph.add_node(Node(node_id("dataset", name), "dataset", name, tuple(refs), missing)).id
    if graph.incoming(did):
        return did
    if service is not None and service in snapshot.feature_services:
        graph.add_edge(Edge(node_id("feature_service", service), did, tuple(refs)))
    else:
        for view_name, view_refs in _by_view(refs).items():
            graph.add_edge(Edge(_view_node(graph, snapshot, view_name), did, tuple(view_refs)))
    return did


def _add_models(graph: LineageGraph, inputs: LineageInputs) -> None:
    for mv in inputs.models:
        mid = node_id("model_version", f"{mv.name}/{mv.version}")
        lineage = mv.lineage
        refs = lineage.feature_refs if lineage else ()
        graph.add_node(Node(mid, "model_version", f"{mv.name}/{mv.version}", tuple(refs)))
        if lineage is not None:
            did = _add_trained(
                graph, inputs.snapshot, lineage.dataset, refs, lineage.feature_service, True
            )
            graph.add_edge(Edge(did, mid, tuple(refs)))
        for alias in mv.aliases:
            aid = node_id("alias", f"{mv.name}@{alias}")
            graph.add_node(Node(aid, "alias", f"{mv.name}@{alias}"))
            graph.add_edge(Edge(mid, aid))


def _arm_node(graph: LineageGraph, model: str) -> str:
    """The node an experiment arm's model (``NAME/VERSION`` or ``NAME@ALIAS``) names."""
    kind = "alias" if "@" in model else "model_version"
    graph.add_node(Node(node_id(kind, model), kind, model, missing=True))
    return node_id(kind, model)


def _add_experiments(graph: LineageGraph, inputs: LineageInputs) -> None:
    for record in inputs.experiments:
        eid = node_id("experiment", record.name)
        graph.add_node(Node(eid, "experiment", record.name))
        for arm in record.spec.arms:
            graph.add_edge(Edge(_arm_node(graph, arm.model), eid))


def _add_logs(graph: LineageGraph, inputs: LineageInputs) -> None:
    for log in inputs.logs:
        lid = node_id("prediction_log", log)
        graph.add_node(Node(lid, "prediction_log", log))
        served = [
            n for n in graph.nodes.values() if n.kind == "alias" and n.name.startswith(log + "@")
        ]
        if not served:
            served = [
                n
                for n in graph.nodes.values()
                if n.kind == "model_version" and n.name.rpartition("/")[0] == log
            ]
        for node in served:
            graph.add_edge(Edge(node.id, lid))


def build_graph(inputs: LineageInputs) -> LineageGraph:
    """The lineage graph of ``inputs`` (see the module docstring)."""
    graph = LineageGraph()
    _add_definitions(graph, inputs.snapshot)
    for dataset in inputs.datasets:
        _add_trained(
            graph,
            inputs.snapshot,
            dataset.name,
            dataset.feature_refs,
            dataset.feature_service,
            False,
        )
    _add_models(graph, inputs)
    _add_experiments(graph, inputs)
    _add_logs(graph, inputs)
    return graph
