"""Model pages: registered models, a model's versions with their stages and aliases, one
version's lineage and latest gate report, and the drift report of its prediction log (the
monitoring page, made on request)."""

from __future__ import annotations

from datetime import timedelta

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from skewless.errors import SkewlessError
from skewless.lineage import node_id
from skewless.models.gate_binding import GATE_TAG
from skewless.models.gate_metrics import GATE_DATASET_TAG, metrics_from_tags
from skewless.models.versions import ModelVersionInfo
from skewless.ui.pages._common import BadInput, NotFound, node_url, render, state, text_param
from skewless.ui.svg import render_svg

__all__ = ["routes"]

_MAX_WINDOW_HOURS = 24 * 90


def _versions(request: Request, name: str) -> list[ModelVersionInfo]:
    listing = state(request).data.models()
    found = listing.of(name)
    if not found:
        why = listing.problem or "see the registered models at /models"
        raise NotFound(f"no registered model named {name!r}: {why}")
    return found


def models_page(request: Request) -> Response:
    data = state(request).data
    listing = data.models()
    summary = []
    for name in listing.names():
        versions = listing.of(name)
        aliases = sorted(
            ((a, v.version) for v in versions for a in v.aliases), key=lambda av: av[0]
        )
        summary.append((name, len(versions), versions[-1], aliases))
    return render(request, "models.html", summary=summary, problem=listing.problem)


def model_page(request: Request) -> Response:
    name = request.path_params["name"]
    versions = _versions(request, name)
    data = state(request).data
    gates = {v.version: metrics_from_tags(v.tags) for v in versions}
    return render(
        request,
        "model.html",
        name=name,
        versions=list(reversed(versions)),
        gates=gates,
        has_log=name in data.logs(),
        experiments=[e for e in data.experiments() if e.spec.model == name],
    )


def version_page(request: Request) -> Response:
    name = request.path_params["name"]
    text = request.path_params["version"]
    if not text.isdigit() or len(text) > 12:
        raise BadInput(f"model version {text[:40]!r} is not a number: use e.g. /models/{name}/1")
    found = [v for v in _versions(request, name) if v.version == int(text)]
    if not found:
        raise NotFound(f"model {name!r} has no version {text}: see {node_url_for(name)}")
    mv = found[0]
    data = state(request).data
    graph = data.graph()
    node = node_id("model_version", f"{name}/{mv.version}")
    svg = (
        Markup(render_svg(graph.around(node), node_url, focus=node))
        if node in graph.nodes
        else None
    )
    arms = [
        (record, arm)
        for record in data.experiments()
        for arm in record.spec.arms
        if arm.model == f"{name}/{mv.version}" or (arm.model.partition("@")[2] in mv.aliases
        and arm.model.partition("@")[0] == name)
    ]  # fmt: skip
    views = data.snapshot().feature_views
    return render(
        request,
        "model_version.html",
        mv=mv,
        gate=metrics_from_tags(mv.tags),
        gate_dataset=mv.tags.get(GATE_DATASET_TAG),
        gate_digest=mv.tags.get(GATE_TAG),
        tags=sorted((k, v) for k, v in mv.tags.items() if not k.startswith("skewless.")),
        arms=arms,
        views=views,
        svg=svg,
        has_log=name in data.logs(),
    )


def node_url_for(name: str) -> str:
    from skewless.ui.pages._common import model_url

    return model_url(name)


def drift_page(request: Request) -> Response:
    from skewless.monitoring.html_monitor import render_monitor_html
    from skewless.monitoring.monitor import MonitorContext, monitor_model

    name = request.path_params["name"]
    _versions(request, name)
    hours_text = text_param(request, "hours", "24").strip()
    if not hours_text.isdigit() or not 1 <= int(hours_text) <= _MAX_WINDOW_HOURS:
        raise BadInput(f"hours must be a whole number from 1 to {_MAX_WINDOW_HOURS}")
    data = state(request).data
    tracking = data.sources.tracking
    assert tracking is not None  # _versions found versions, so MLflow is there
    ctx = MonitorContext(tracking, data.sources.datasets, data.root, data.now())
    try:
        result = monitor_model(ctx, name, window=timedelta(hours=int(hours_text)))
    except SkewlessError as exc:
        raise NotFound(f"no drift report for model {name!r}: {exc}") from None
    return HTMLResponse(render_monitor_html(result.to_dict()))


routes = [
    Route("/models", models_page),
    Route("/models/{name}", model_page),
    Route("/models/{name}/drift", drift_page),
    Route("/models/{name}/{version}", version_page),
]
