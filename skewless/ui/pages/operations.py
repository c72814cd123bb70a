"""Experiment and pipeline pages: experiment records with their analysis (the experiment page
of :mod:`skewless.experiments.html`, made on request), pipelines with their runs and steps."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from skewless.errors import SkewlessError
from skewless.experiments.records import ExperimentRecord
from skewless.pipelines.records import PipelineRun
from skewless.ui.pages._common import NotFound, render, state

__all__ = ["routes"]


def _experiment(request: Request) -> ExperimentRecord:
    name = request.path_params["name"]
    for record in state(request).data.experiments():
        if record.name == name:
            return record
    raise NotFound(f"no experiment named {name!r}: see the experiments at /experiments")


def experiments_page(request: Request) -> Response:
    records = sorted(state(request).data.experiments(), key=lambda r: r.name)
    return render(request, "experiments.html", records=records)


def experiment_page(request: Request) -> Response:
    record = _experiment(request)
    return render(request, "experiment.html", record=record)


def analysis_page(request: Request) -> Response:
    from skewless.experiments.analysis import analyze_experiment
    from skewless.experiments.html import render_experiment_html

    record = _experiment(request)
    data = state(request).data
    try:
        analysis = analyze_experiment(record, data.root, now=data.now())
    except SkewlessError as exc:
        raise NotFound(f"no analysis of experiment {record.name!r}: {exc}") from None
    return HTMLResponse(render_experiment_html(analysis.to_dict()))


def pipelines_page(request: Request) -> Response:
    data = state(request).data
    pipelines = sorted(data.snapshot().pipelines.values(), key=lambda p: p.name)
    runs = sorted(data.runs(), key=lambda r: r.run_id, reverse=True)
    latest: dict[str, PipelineRun] = {}
    for run in runs:
        latest.setdefault(run.pipeline, run)
    return render(request, "pipelines.html", pipelines=pipelines, runs=runs, latest=latest)


def pipeline_page(request: Request) -> Response:
    data = state(request).data
    pipeline = data.snapshot().get_pipeline(request.path_params["name"])
    runs = sorted(
        (r for r in data.runs() if r.pipeline == pipeline.name),
        key=lambda r: r.run_id,
        reverse=True,
    )
    return render(request, "pipeline.html", pipeline=pipeline, runs=runs)


def run_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    for run in state(request).data.runs():
        if run.run_id == run_id:
            return render(request, "run.html", run=run)
    raise NotFound(f"no pipeline run {run_id!r}: see the runs at /pipelines")


routes = [
    Route("/experiments", experiments_page),
    Route("/experiments/{name}", experiment_page),
    Route("/experiments/{name}/analysis", analysis_page),
    Route("/pipelines", pipelines_page),
    Route("/pipelines/{name}", pipeline_page),
    Route("/runs/{run_id}", run_page),
]
