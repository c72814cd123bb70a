"""The lineage graph drawn on the server as SVG: one column per kind of object (sources on
the left, experiments and prediction logs on the right), edges as curves between them.

Why server-side SVG rather than a graph library in the browser: the lineage graph is a DAG
whose layers are given by the kinds themselves (source -> view -> on-demand view -> service
-> dataset -> model version -> alias -> experiment), so a layered layout needs no general
graph-layout engine: columns are fixed, rows are ordered by the mean row of each node's
parents (one pass, which keeps the edges of a chain straight) and positions are arithmetic.
The page then needs no script at all to show the graph (Dagre/Cytoscape would add 100-400 kB
of vendored JavaScript and a blank graph without it), every node is a real link that the
keyboard and screen readers reach, the drawing is the same in every browser and in
screenshots, and it costs well under a millisecond for the graphs a page shows.

Example:
    >>> from skewless.lineage.graph import LineageGraph, Node
    >>> g = LineageGraph()
    >>> _ = g.add_node(Node("feature_view:v", "feature_view", "v"))
    >>> render_svg(g, lambda node: "/views/v").startswith("<svg")
    True
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from html import escape

from skewless.lineage.graph import KIND_COLUMNS, LineageGraph, Node

__all__ = ["BOX_H", "BOX_W", "render_svg"]

BOX_W = 200
BOX_H = 36
_GAP_X = 70
_GAP_Y = 14
_PAD = 10
_MAX_LABEL = 26
_KIND_SHORT = {
    "source": "source",
    "push_source": "push source",
    "feature_view": "view",
    "on_demand_feature_view": "on-demand view",
    "feature_service": "service",
    "dataset": "dataset",
    "model_version": "model version",
    "alias": "alias",
    "experiment": "experiment",
    "prediction_log": "prediction log",
}


def _label(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _layout(graph: LineageGraph) -> dict[str, tuple[int, int]]:
    """Node id -> (column, row)."""
    used = sorted({KIND_COLUMNS[n.kind] for n in graph.nodes.values()})
    column_of = {c: i for i, c in enumerate(used)}
    columns: dict[int, list[Node]] = {}
    for node in graph.nodes.values():
        columns.setdefault(column_of[KIND_COLUMNS[node.kind]], []).append(node)
    place: dict[str, tuple[int, int]] = {}
    for column in sorted(columns):
        nodes = columns[column]

        def weight(node: Node) -> tuple[float, str, str]:
            rows = [place[e.source][1] for e in graph.incoming(node.id) if e.source in place]
            return (sum(rows) / len(rows) if rows else float("inf"), node.kind, node.name)

        for row, node in enumerate(sorted(nodes, key=weight)):
            place[node.id] = (column, row)
    return place


def render_svg(
    graph: LineageGraph,
    url: Callable[[Node], str | None],
    *,
    focus: str | None = None,
    highlight: Collection[str] = (),
    label: str = "Lineage graph",
) -> str:
    """``graph`` as an SVG element: nodes link to ``url(node)`` (None: no link); ``focus``
    is outlined and the nodes of ``highlight`` are filled as hit."""
    place = _layout(graph)
    columns = 1 + max((c for c, _ in place.values()), default=0)
    rows = 1 + max((r for _, r in place.values()), default=0)
    width = _PAD * 2 + columns * BOX_W + (columns - 1) * _GAP_X
    height = _PAD * 2 + rows * (BOX_H + _GAP_Y) - _GAP_Y

    def corner(node_id: str) -> tuple[int, int]:
        column, row = place[node_id]
        return _PAD + column * (BOX_W + _GAP_X), _PAD + row * (BOX_H + _GAP_Y)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="group" '
        f'aria-label="{escape(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for edge in graph.edges:
        (x1, y1), (x2, y2) = corner(edge.source), corner(edge.target)
        sx, sy, tx, ty = x1 + BOX_W, y1 + BOX_H // 2, x2, y2 + BOX_H // 2
        mid = (sx + tx) / 2
        hit = edge.source in highlight and edge.target in highlight
        parts.append(
            f'<path class="edge{" hit" if hit else ""}" d="M{sx},{sy} C{mid},{sy} {mid},{ty} '
            f'{tx},{ty}" aria-hidden="true"/>'
        )
    for node in graph.nodes.values():
        x, y = corner(node.id)
        classes = ["node", node.kind.replace("_", "-")]
        if node.missing:
            classes.append("missing")
        if node.id in highlight:
            classes.append("hit")
        if node.id == focus:
            classes.append("focus")
        kind = _KIND_SHORT[node.kind]
        what = f"{kind} {node.name}" + (" (not found)" if node.missing else "")
        box = (
            f'<g class="{" ".join(classes)}"><title>{escape(what)}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5"/>'
            f'<text x="{x + 8}" y="{y + 14}" class="kind">{escape(kind)}</text>'
            f'<text x="{x + 8}" y="{y + 29}" class="name">{escape(_label(node.name))}</text></g>'
        )
        href = None if node.missing else url(node)
        if href is not None:
            box = f'<a href="{escape(href)}" aria-label="{escape(what)}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return "".join(parts)
