"""``skewless models list | promote | features | serve | compress``: registered models on
MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, guarded, open_store, status
from skewless.cli._tables import fmt_time
from skewless.cli.models_compress import compress
from skewless.cli.models_serve import serve_model

__all__ = ["app", "features", "list_versions", "promote"]

app = typer.Typer(
    name="models",
    help="Registered models on MLflow: list versions, promote through stages, compress.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_HIDDEN_TAG_PREFIX = "skewless."


@guarded
def list_versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered model.")],
    all_tags: Annotated[
        bool, typer.Option("--all-tags", help="Show the lineage tags too.")
    ] = False,
) -> None:
    """List the versions of a model with their stage, aliases, training dataset and tags."""
    from skewless.models import list_model_versions

    with open_store(ctx) as store:
        versions = list_model_versions(name, store)
    table = Table(title=f"Model {name}", title_justify="left", header_style="bold")
    for column in ("VERSION", "STAGE", "ALIASES", "DATASET", "CREATED", "TAGS"):
        table.add_column(column, overflow="fold")
    for v in reversed(versions):
        tags = {
            k: val
            for k, val in sorted(v.tags.items())
            if all_tags or not k.startswith(_HIDDEN_TAG_PREFIX)
        }
        table.add_row(
            str(v.version),
            v.stage,
            ", ".join(v.aliases) or "-",
            Text(v.lineage.dataset if v.lineage else "-"),
            fmt_time(v.created_at) if v.created_at else "-",
            Text(", ".join(f"{k}={val}" for k, val in tags.items()) or "-"),
        )
    console().print(table)


@guarded
def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[str, typer.Argument(help="A version number or an alias (staging).")],
    to: Annotated[str, typer.Option("--to", help="staging or production.")],
    gate_report: Annotated[
        Path | None,
        typer.Option("--gate-report", help="Refuse unless this `skewless gate` report passed."),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option("--keep", min=1, help="Versions kept (default: mlflow.keep_versions, 3)."),
    ] = None,
) -> None:
    """Promote a version to staging or production.

    Promoting to production archives the previous production version; then versions beyond
    the latest KEEP are deleted, except those holding an alias.
    """
    from skewless.models import promote as run_promote

    with open_store(ctx) as store, status("promoting"):
        result = run_promote(name, version, to, store=store, gate_report=gate_report, keep=keep)
    out = console()
    out.print(Text(f"{name} version {result.version} -> {result.stage}", style="green"))
    if result.archived is not None:
        out.print(Text(f"{name} version {result.archived} archived"))
    if result.deleted:
        out.print(Text(f"deleted versions {', '.join(map(str, result.deleted))} (retention)"))


@guarded
def features(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[str, typer.Argument(help="A version number or an alias.")] = "production",
) -> None:
    """The features (and definition versions) a model version needs."""
    from skewless.models import model_lineage

    with open_store(ctx) as store:
        lineage = model_lineage(name, version, store)
    out = console()
    out.print(
        Text(
            f"trained on dataset {lineage.dataset} (label {lineage.label}, {lineage.task}"
            + (f", feature service {lineage.feature_service}" if lineage.feature_service else "")
            + ")"
        )
    )
    table = Table(header_style="bold")
    for column in ("FEATURE", "COLUMN", "VIEW VERSION"):
        table.add_column(column, overflow="fold")
    for ref, column in zip(lineage.feature_refs, lineage.feature_columns, strict=False):
        view = ref.partition(":")[0]
        table.add_row(Text(ref), Text(column), lineage.feature_versions.get(view, "-")[:12])
    out.print(table)


app.command("list")(list_versions)
app.command("promote")(promote)
app.command("features")(features)
app.command("serve")(serve_model)
app.command("compress")(compress)
