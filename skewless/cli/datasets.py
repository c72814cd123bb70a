"""``skewless datasets list | describe | split | profile``: saved training datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, guarded, open_store
from skewless.cli._tables import fmt_time

if TYPE_CHECKING:
    from skewless.datasets import SavedDataset

__all__ = ["app", "describe", "list_datasets", "profile", "sparkline", "split"]

app = typer.Typer(
    name="datasets",
    help="Saved training datasets: list, describe, split by time, profile.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    """Histogram counts as one line of bar characters (an empty bin is a space).

    >>> sparkline([0, 1, 2, 4])
    ' ▂▄█'
    """
    top = max(counts, default=0)
    if top <= 0:
        return ""
    steps = len(_BARS) - 1
    return "".join(_BARS[0 if c <= 0 else max(1, round(c / top * steps))] for c in counts)


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@guarded
def list_datasets(ctx: typer.Context) -> None:
    """List the saved training datasets."""
    with open_store(ctx) as store:
        found = store.list_datasets()
    out = console()
    if not found:
        out.print(Text("No dataset saved yet: save one with job.save_dataset(name)."))
        return
    table = _table("NAME", "ROWS", "FROM", "TO", "FEATURES", "PARENT", "CREATED", title="Datasets")
    for ds in found:
        table.add_row(
            Text(ds.name),
            str(ds.rows),
            fmt_time(ds.start),
            fmt_time(ds.end),
            str(len(ds.feature_refs)),
            Text(ds.parent or "-"),
            fmt_time(ds.created_at),
        )
    out.print(table)


@guarded
def describe(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset's name.")],
) -> None:
    """Show a dataset's lineage and the statistics of each column."""
    with open_store(ctx) as store:
        ds = store.get_dataset(name)
    out = console()
    out.print(Text(f"dataset {ds.name}", style="bold"))
    out.print(_summary_table(ds))
    out.print(_features_table(ds))
    numeric, other = _stats_tables(ds)
    if numeric.row_count:
        out.print(numeric)
    if other.row_count:
        out.print(other)


def _summary_table(ds: SavedDataset) -> Table:
    table = _table("FIELD", "VALUE")
    rows = [
        ("file", str(ds.path)),
        ("rows", str(ds.rows)),
        ("from", fmt_time(ds.start)),
        ("to", fmt_time(ds.end)),
        ("feature service", ds.feature_service or "-"),
        ("entity columns", ", ".join(ds.entity_columns) or "-"),
        ("entity fingerprint", ds.entity_fingerprint),
        ("created", fmt_time(ds.created_at)),
    ]
    if ds.parent:
        side = (ds.split or {}).get("side", "?")
        rows.append(("split of", f"{ds.parent} ({side} {(ds.split or {}).get('at', '?')})"))
    if ds.description:
        rows.append(("description", ds.description))
    for field, value in rows:
        table.add_row(field, Text(value))
    return table


def _features_table(ds: SavedDataset) -> Table:
    table = _table("FEATURE", "VIEW VERSION (DEFINITION HASH)", title="Features")
    for ref in ds.feature_refs:
        view = ref.split(":")[0]
        table.add_row(Text(ref), ds.feature_versions.get(view, "-")[:12])
    return table


def _stats_tables(ds: SavedDataset) -> tuple[Table, Table]:
    numeric = _table(
        "COLUMN", "TYPE", "COUNT", "NULLS", "MEAN", "STD", "MIN", "P50", "MAX", "HISTOGRAM",
        title="Numeric columns",
    )  # fmt: skip
    other = _table("COLUMN", "TYPE", "COUNT", "NULLS", "VALUES", title="Other columns")
    for column, kind in ds.columns.items():
        stats = ds.stats.get(column, {})
        count, nulls = _num(stats.get("count")), _num(stats.get("nulls"))
        if stats.get("kind") == "numeric":
            numeric.add_row(
                Text(column), kind, count, nulls,
                _num(stats.get("mean")), _num(stats.get("std")), _num(stats.get("min")),
                _num(stats.get("quantiles", {}).get("0.5")), _num(stats.get("max")),
                sparkline(stats.get("histogram", {}).get("counts", [])),
            )  # fmt: skip
        else:
            other.add_row(Text(column), kind, count, nulls, Text(_values(stats)))
    return numeric, other


def _values(stats: dict[str, Any]) -> str:
    if stats.get("kind") == "categorical":
        categories = stats.get("categories", {})
        shown = [f"{value}: {n}" for value, n in list(categories.items())[:5]]
        more = len(categories) - len(shown)
        return ", ".join(shown) + (f", ... ({more} more)" if more > 0 else "")
    if stats.get("kind") == "time":
        return f"{stats.get('min')} .. {stats.get('max')}"
    return "-"


@guarded
def split(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset to split.")],
    at: Annotated[
        str,
        typer.Option("--at", help="Rows before this time (ISO-8601, UTC) go to the first part."),
    ],
    names: Annotated[
        str | None,
        typer.Option(
            "--names",
            help="The two new datasets' names, BEFORE,AFTER (default NAME_train,NAME_holdout).",
        ),
    ] = None,
) -> None:
    """Split a dataset by time into two saved datasets (e.g. train and holdout)."""
    wanted = [n.strip() for n in names.split(",")] if names is not None else None
    with open_store(ctx) as store:
        before, after = store.split_dataset(name, at, names=wanted)
    out = console()
    for ds in (before, after):
        out.print(
            Text(
                f"saved dataset {ds.name}: {ds.rows} rows from {fmt_time(ds.start)} "
                f"to {fmt_time(ds.end)}"
            )
        )


@guarded
def profile(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset to profile.")],
) -> None:
    """Rebuild a dataset's stored profile (the drift reference) from its file."""
    from skewless.monitoring.profile_store import reprofile_dataset

    with open_store(ctx) as store:
        built = reprofile_dataset(store.datasets, name)
    numeric = sum(c.kind == "numeric" for c in built.columns.values())
    console().print(
        Text(
            f"profiled dataset {name}: {built.rows} rows, {len(built.columns)} columns "
            f"({numeric} numeric), profile format {built.format_version}"
        )
    )


app.command("list")(list_datasets)
app.command("describe")(describe)
app.command("split")(split)
app.command("profile")(profile)
