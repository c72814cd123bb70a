"""Lineage and impact pages: the graph around any object, what depends on a feature, and the
same answers as JSON under ``/api/``."""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from skewless.lineage import KIND_COLUMNS, LineageGraph, impact
from skewless.ui.pages._common import BadInput, NotFound, node_url, render, state, text_param
from skewless.ui.svg import render_svg

__all__ = ["WHOLE_GRAPH_UP_TO", "routes"]

WHOLE_GRAPH_UP_TO = 150
"""Without a chosen node, the whole graph is drawn when it has at most this many nodes."""


def _node(graph: LineageGraph, request: Request) -> str | None:
    wanted = text_param(request, "node").strip()
    if not wanted:
        return None
    kind = wanted.partition(":")[0]
    if kind not in KIND_COLUMNS:
        raise BadInput(
            f"node {wanted[:60]!r} must be kind:name with kind one of {', '.join(KIND_COLUMNS)}"
        )
    if wanted not in graph.nodes:
        raise NotFound(f"nothing called {wanted!r} in the lineage graph: see /lineage")
    return wanted


def lineage_page(request: Request) -> Response:
    graph = state(request).data.graph()
    focus = _node(graph, request)
    if focus is not None:
        shown: LineageGraph | None = graph.around(focus)
    else:
        shown = graph if len(graph.nodes) <= WHOLE_GRAPH_UP_TO else None
    svg = Markup(render_svg(shown, node_url, focus=focus)) if shown is not None else None
    starts = sorted(
        (n for n in graph.nodes.values() if n.kind == "feature_view" and not n.missing),
        key=lambda n: n.name,
    )
    return render(
        request,
        "lineage.html",
        focus=graph.nodes[focus] if focus else None,
        shown=shown,
        svg=svg,
        total=len(graph.nodes),
        starts=starts[:WHOLE_GRAPH_UP_TO],
        more=max(0, len(starts) - WHOLE_GRAPH_UP_TO),
        node_url=node_url,
    )


def _impact(request: Request) -> tuple[LineageGraph, str]:
    feature = text_param(request, "feature").strip()
    if not feature:
        raise BadInput("parameter feature is missing: pass feature=VIEW:FEATURE or feature=VIEW")
    return state(request).data.graph(), feature


def impact_page(request: Request) -> Response:
    if not text_param(request, "feature").strip():
        return render(request, "impact.html", feature="", hit=None, svg=None)
    graph, feature = _impact(request)
    hit = impact(graph, feature)
    shown = graph.subgraph(hit.nodes)
    svg = Markup(render_svg(shown, node_url, focus=hit.view, highlight=hit.nodes))
    return render(request, "impact.html", feature=feature, hit=hit, svg=svg)


def impact_api(request: Request) -> Response:
    graph, feature = _impact(request)
    return JSONResponse(impact(graph, feature).to_dict())


def lineage_api(request: Request) -> Response:
    graph = state(request).data.graph()
    focus = _node(graph, request)
    shown = graph.around(focus) if focus is not None else graph
    return JSONResponse(shown.to_dict())


routes = [
    Route("/lineage", lineage_page),
    Route("/impact", impact_page),
    Route("/api/impact", impact_api),
    Route("/api/lineage", lineage_api),
]
