"""What depends on a feature: the services, datasets, model versions, aliases, experiments
and prediction logs a change to it would break.

Example:
    >>> from skewless.lineage.graph import Edge, LineageGraph, Node
    >>> g = LineageGraph()
    >>> for n in (Node("feature_view:v", "feature_view", "v", ("v:a", "v:b")),
    ...           Node("feature_service:s", "feature_service", "s", ("v:b",))):
    ...     _ = g.add_node(n)
    >>> g.add_edge(Edge("feature_view:v", "feature_service:s", ("v:b",)))
    >>> impact(g, "v:a").services, impact(g, "v:b").services
    ((), ('s',))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skewless.errors import UnknownObjectError
from skewless.lineage.graph import LineageGraph, node_id

__all__ = ["Impact", "impact"]


@dataclass(frozen=True)
class Impact:
    """Everything downstream of ``feature`` (names, sorted).

    Attributes:
        feature: what was asked about: ``view:feature`` or a view name.
        view: the node of its view (or on-demand view).
        refs: the feature refs the question covers.
        on_demand_views, services, datasets, model_versions, aliases, experiments,
            prediction_logs: the objects that depend on them.
        nodes: the ids of every node reached (the view included).
    """

    feature: str
    view: str
    refs: tuple[str, ...]
    on_demand_views: tuple[str, ...]
    services: tuple[str, ...]
    datasets: tuple[str, ...]
    model_versions: tuple[str, ...]
    aliases: tuple[str, ...]
    experiments: tuple[str, ...]
    prediction_logs: tuple[str, ...]
    nodes: frozenset[str]

    @property
    def empty(self) -> bool:
        """True when nothing downstream uses the feature."""
        return len(self.nodes) <= 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "view": self.view,
            "refs": list(self.refs),
            "on_demand_views": list(self.on_demand_views),
            "services": list(self.services),
            "datasets": list(self.datasets),
            "model_versions": list(self.model_versions),
            "aliases": list(self.aliases),
            "experiments": list(self.experiments),
            "prediction_logs": list(self.prediction_logs),
        }


def _start(graph: LineageGraph, feature: str) -> tuple[str, tuple[str, ...]]:
    view, _, name = feature.strip().partition(":")
    for kind in ("feature_view", "on_demand_feature_view"):
        found = graph.nodes.get(node_id(kind, view))
        if found is None or found.missing:
            continue
        if not name:
            return found.id, found.features
        ref = f"{view}:{name}"
        if ref not in found.features:
            known = ", ".join(r.partition(":")[2] for r in found.features) or "none"
            raise UnknownObjectError(
                f"{kind.replace('_', ' ')} {view!r} has no feature {name!r} (features: {known})"
            )
        return found.id, (ref,)
    views = sorted(
        n.name
        for n in graph.nodes.values()
        if n.kind in ("feature_view", "on_demand_feature_view") and not n.missing
    )
    raise UnknownObjectError(
        f"no feature view or on-demand view named {view!r} (known: "
        f"{', '.join(views) or 'none yet; run `skewless apply`'}): pass VIEW:FEATURE or VIEW"
    )


def impact(graph: LineageGraph, feature: str) -> Impact:
    """What depends on ``feature`` (``view:feature``, or a view name for all its features).

    Raises:
        UnknownObjectError: no such view, or the view has no such feature.
    """
    start, refs = _start(graph, feature)
    carried: dict[str, set[str]] = {start: set(refs)}
    todo = [start]
    while todo:
        current = todo.pop()
        held = carried[current]
        for edge in graph.outgoing(current):
            passed = held & set(edge.features) if edge.features else set(held)
            if not passed:
                continue
            target = graph.nodes[edge.target]
            if target.kind == "on_demand_feature_view":
                passed = set(target.features)  # every output is computed from its inputs
            before = carried.get(edge.target)
            if before is not None and passed <= before:
                continue
            carried[edge.target] = (before or set()) | passed
            todo.append(edge.target)

    def names(kind: str) -> tuple[str, ...]:
        return tuple(sorted(graph.nodes[n].name for n in carried if graph.nodes[n].kind == kind))

    return Impact(
        feature=feature,
        view=start,
        refs=tuple(refs),
        on_demand_views=tuple(
            n
            for n in names("on_demand_feature_view")
            if node_id("on_demand_feature_view", n) != start
        ),
        services=names("feature_service"),
        datasets=names("dataset"),
        model_versions=names("model_version"),
        aliases=names("alias"),
        experiments=names("experiment"),
        prediction_logs=names("prediction_log"),
        nodes=frozenset(carried),
    )
