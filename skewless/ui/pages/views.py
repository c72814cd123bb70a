"""Feature view pages: the view (schema, source, TTL, aggregations, freshness, what uses it,
version history), a diff between two of its versions, and the freshness of every view."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from skewless.definitions import BatchFeatureView
from skewless.lineage import impact, node_id
from skewless.registry import ObjectVersion
from skewless.ui.diff import spec_diff
from skewless.ui.freshness import freshness_rows
from skewless.ui.pages._common import BadInput, NotFound, int_param, render, state

__all__ = ["routes"]


def _history(request: Request, name: str) -> list[ObjectVersion]:
    data = state(request).data
    snapshot = data.snapshot()
    return data.derived(
        f"history:{name}",
        (snapshot,),
        lambda: data.sources.registry.history(name, "feature_view"),
    )


def view_page(request: Request) -> Response:
    ui = state(request)
    data = ui.data
    snapshot = data.snapshot()
    view = snapshot.get_feature_view(request.path_params["name"])
    (fresh,) = freshness_rows(
        {view.name: view},
        data.sources.registry,
        ui.newest,
        data.root,
        data.audits(),
        data.sources.clock,
    )
    hit = impact(data.graph(), view.name)
    aggregations = view.aggregations if isinstance(view, BatchFeatureView) else ()
    history = _history(request, view.name)
    return render(
        request,
        "view.html",
        view=view,
        keys=set(view.join_keys),
        aggregations=aggregations,
        fresh=fresh,
        impact=hit,
        history=list(reversed(history)),
        node=node_id("feature_view", view.name),
    )


def diff_page(request: Request) -> Response:
    name = request.path_params["name"]
    history = {v.version: v for v in _history(request, name)}
    newest = max(history)
    a = int_param(request, "a") or max(1, newest - 1)
    b = int_param(request, "b") or newest
    for version in (a, b):
        if version not in history:
            raise NotFound(
                f"feature view {name!r} has no version {version}: its versions are 1 to {newest}"
            )
    if a == b and len(history) > 1:
        raise BadInput(f"versions a and b are both {a}: pick two different versions")
    old, new = history[a], history[b]
    return render(
        request,
        "diff.html",
        name=name,
        old=old,
        new=new,
        versions=sorted(history),
        changes=spec_diff(old.spec, new.spec),
    )


def freshness_page(request: Request) -> Response:
    ui = state(request)
    data = ui.data
    rows = freshness_rows(
        data.snapshot().feature_views,
        data.sources.registry,
        ui.newest,
        data.root,
        data.audits(),
        data.sources.clock,
    )
    return render(request, "freshness.html", rows=rows, now=data.now())


routes = [
    Route("/views/{name}", view_page),
    Route("/views/{name}/diff", diff_page),
    Route("/freshness", freshness_page),
]
