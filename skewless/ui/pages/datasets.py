"""The page of a saved dataset: its lineage facts, features, columns and their stored
statistics, drawn as charts (numeric histograms, top categories) with tables beside them."""

from __future__ import annotations

import itertools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from skewless.lineage import node_id
from skewless.ui.pages._common import NotFound, render, state

__all__ = ["dataset_charts", "routes"]

_MAX_CATEGORIES = 20


def dataset_charts(stats: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One bar chart per column whose statistics hold a histogram or categories.

    >>> dataset_charts({"x": {"kind": "numeric", "histogram": {"edges": [0, 1, 2],
    ...                                                       "counts": [3, 4]}}})[0]["labels"]
    ['0 – 1', '1 – 2']
    """
    charts = []
    for index, (column, figures) in enumerate(stats.items()):
        kind = figures.get("kind")
        if kind == "numeric":
            hist = figures.get("histogram") or {}
            edges, counts = list(hist.get("edges") or []), list(hist.get("counts") or [])
            if not counts or len(edges) != len(counts) + 1:
                continue
            labels = [f"{a:.4g} – {b:.4g}" for a, b in itertools.pairwise(edges)]
            charts.append(
                {"id": f"col-{index}", "column": column, "labels": labels, "values": counts,
                 "what": "histogram", "axis": "value (bin)"}
            )  # fmt: skip
        elif kind == "categorical":
            cats = list((figures.get("categories") or {}).items())[:_MAX_CATEGORIES]
            if not cats:
                continue
            charts.append(
                {"id": f"col-{index}", "column": column, "labels": [str(k) for k, _ in cats],
                 "values": [v for _, v in cats], "what": "categories", "axis": "category"}
            )  # fmt: skip
    return charts


def dataset_page(request: Request) -> Response:
    data = state(request).data
    name = request.path_params["name"]
    dataset = data.datasets().get(name)
    if dataset is None:
        raise NotFound(f"no saved dataset named {name!r}: see the saved datasets at /datasets")
    charts = dataset_charts(dataset.stats)
    models = [v for v in data.models().versions if v.lineage and v.lineage.dataset == name]
    views = data.snapshot().feature_views
    refs = [(ref, ref.partition(":")[0] in views) for ref in dataset.feature_refs]
    return render(
        request,
        "dataset.html",
        dataset=dataset,
        refs=refs,
        charts=charts,
        charted={c["column"]: c for c in charts},
        models=models,
        node=node_id("dataset", name),
    )


routes = [Route("/datasets/{name}", dataset_page)]
