"""``skewless lineage FEATURE``: what depends on a feature (what a change to it would break)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, guarded, repo_dir

__all__ = ["lineage"]

_GROUPS = (
    ("on_demand_views", "on-demand view"),
    ("services", "feature service"),
    ("datasets", "dataset"),
    ("model_versions", "model version"),
    ("aliases", "alias"),
    ("experiments", "experiment"),
    ("prediction_logs", "prediction log"),
)


@guarded
def lineage(
    ctx: typer.Context,
    feature: Annotated[str, typer.Argument(help="VIEW:FEATURE, or a view name for all of it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Which on-demand views, services, datasets, model versions, aliases, experiments and
    prediction logs use FEATURE: what a change to it would break."""
    import logging

    from skewless.errors import SkewlessError
    from skewless.lineage import build_graph, impact
    from skewless.lineage.collect import lineage_inputs
    from skewless.ui.factory import ui_sources_for

    sources = ui_sources_for(repo_dir(ctx))
    try:
        inputs = lineage_inputs(sources.registry, sources.datasets, sources.tracking, sources.root)
    except SkewlessError as exc:  # MLflow down: answer from the rest, and say so
        logging.getLogger("skewless.cli").warning("model versions left out: %s", exc)
        inputs = lineage_inputs(sources.registry, sources.datasets, None, sources.root)
    hit = impact(build_graph(inputs), feature)
    if as_json:
        typer.echo(json.dumps(hit.to_dict(), indent=2))
        return
    out = console()
    if hit.empty:
        out.print(Text(f"nothing uses {', '.join(hit.refs)}: a change breaks nothing downstream"))
        return
    table = Table(title=f"What uses {feature}", title_justify="left", header_style="bold")
    table.add_column("KIND")
    table.add_column("NAME", overflow="fold")
    data = hit.to_dict()
    for key, label in _GROUPS:
        for name in data[key]:
            table.add_row(label, Text(name))
    out.print(table)
