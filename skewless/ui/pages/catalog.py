"""Catalog pages: the home page, search with facets, listings, entities, services, on-demand
views, push sources and pipelines' definitions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from skewless.ui.catalog import KIND_LABELS, SearchEntry, push_sources, search, search_index
from skewless.ui.pages._common import BadInput, NotFound, render, state, text_param

__all__ = ["routes"]

_LISTINGS = {
    "entities": "entity",
    "views": "feature_view",
    "on-demand": "on_demand_feature_view",
    "services": "feature_service",
    "push-sources": "push_source",
    "datasets": "dataset",
}


def _index(request: Request) -> list[SearchEntry]:
    data = state(request).data
    snapshot, datasets = data.snapshot(), data.datasets()
    return data.derived("search", (snapshot, datasets), lambda: search_index(snapshot, datasets))


def home(request: Request) -> Response:
    entries = _index(request)
    counts = {kind: 0 for kind in _LISTINGS.values()}
    for entry in entries:
        if entry.kind in counts:
            counts[entry.kind] += 1
    listings = [(path, KIND_LABELS[kind], counts[kind]) for path, kind in _LISTINGS.items()]
    snapshot = state(request).data.snapshot()
    return render(
        request, "home.html", listings=listings, project=snapshot.project, version=snapshot.version
    )


def search_page(request: Request) -> Response:
    text = text_param(request, "q")
    kind = text_param(request, "kind") or None
    if kind is not None and kind not in KIND_LABELS:
        raise BadInput(f"kind {kind[:40]!r} is not a kind: use one of {', '.join(KIND_LABELS)}")
    owner = text_param(request, "owner") or None
    tag = text_param(request, "tag") or None
    result = search(_index(request), text, kind=kind, owner=owner, tag=tag)
    return render(request, "search.html", q=text, kind=kind, owner=owner, tag=tag, result=result)


def listing(request: Request) -> Response:
    path = request.url.path.strip("/")
    kind = _LISTINGS[path]
    entries = [e for e in _index(request) if e.kind == kind]
    return render(request, "listing.html", kind=kind, entries=entries)


def entity(request: Request) -> Response:
    snapshot = state(request).data.snapshot()
    ent = snapshot.get_entity(request.path_params["name"])
    used = [
        v
        for _, v in sorted(snapshot.feature_views.items())
        if ent.name in {e.name for e in v.entities}
    ]
    return render(request, "entity.html", entity=ent, views=used)


def service(request: Request) -> Response:
    data = state(request).data
    snapshot = data.snapshot()
    svc = snapshot.get_feature_service(request.path_params["name"])
    datasets = [d for d in data.datasets().values() if d.feature_service == svc.name]
    models = [
        v for v in data.models().versions if v.lineage and v.lineage.feature_service == svc.name
    ]
    rows = []
    for p in svc.projections:
        kind = (
            "on_demand_feature_view"
            if p.view_name in snapshot.on_demand_feature_views
            else "feature_view"
        )
        rows.append((kind, p.view_name, p.features))
    return render(request, "service.html", service=svc, rows=rows, datasets=datasets, models=models)


def on_demand(request: Request) -> Response:
    snapshot = state(request).data.snapshot()
    odfv = snapshot.get_on_demand_feature_view(request.path_params["name"])
    services = [
        s for _, s in sorted(snapshot.feature_services.items())
        if odfv.name in {p.view_name for p in s.projections}
    ]  # fmt: skip
    return render(request, "on_demand.html", odfv=odfv, services=services)


def push_source(request: Request) -> Response:
    name = request.path_params["name"]
    found = push_sources(state(request).data.snapshot()).get(name)
    if found is None:
        raise NotFound(f"no push source named {name!r}: see the push sources at /push-sources")
    source, views = found
    return render(request, "push_source.html", source=source, views=views)


routes = [
    Route("/", home),
    Route("/search", search_page),
    *(Route(f"/{path}", listing) for path in _LISTINGS),
    Route("/entities/{name}", entity),
    Route("/services/{name}", service),
    Route("/on-demand/{name}", on_demand),
    Route("/push-sources/{name}", push_source),
]
