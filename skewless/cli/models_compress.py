"""``skewless models compress``: a version converted to ONNX, registered, measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, guarded, open_store, repo_dir, status

if TYPE_CHECKING:
    from skewless.models.compress_report import CompressionReport

__all__ = ["compress", "print_compression"]


def print_compression(report: CompressionReport) -> None:
    """The guide-style table: each measure of the original next to the compressed version."""
    out = console()
    o, c = report.original, report.compressed
    out.print(
        Text(
            f"{report.name} version {o.version} -> version {c.version} ({c.kind}), "
            f"{report.task}, measured on dataset {report.rows_from} "
            f"({report.agreement.rows:,} rows)",
            style="green",
        )
    )
    table = Table(title="Compression", title_justify="left", header_style="bold")
    for column in ("MEASURE", f"ORIGINAL (v{o.version})", f"{c.kind.upper()} (v{c.version})"):
        table.add_column(column)
    table.add_column("CHANGE")
    for row in report.table():
        table.add_row(*row)
    out.print(table)
    a = report.agreement
    if a.labels is not None:
        agreement = (
            f"agreement: {a.labels:.2%} of predicted classes identical, probabilities within "
            f"{a.max_abs_diff:.2g}"
        )
    else:
        agreement = f"agreement: predictions within {a.max_abs_diff:.3g}"
    out.print(Text(agreement))
    if report.dataset is None:
        out.print(Text("note: no --dataset, so no metrics: pass a held-out dataset", style="dim"))
    out.print(
        Text(
            f"gate it: skewless gate {report.name} --dataset HELD_OUT --version {c.version} "
            f"--baseline {o.version} --max-regression 0.01",
            style="dim",
        )
    )


@guarded
def compress(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[str, typer.Argument(help="A version number or an alias.")],
    format: Annotated[str, typer.Option("--format", help="The target format: onnx.")] = "onnx",
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="int8: dynamic int8 quantization of the weights."),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="A held-out saved dataset for the metrics."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the figures as JSON here.")
    ] = None,
) -> None:
    """Convert a scikit-learn version to ONNX (optionally int8), register it as a new version
    with the original's lineage, and print size, p99 latency and metrics of both."""
    from skewless.models.compress import compress_model

    with open_store(ctx) as store, status("compressing"):
        result = compress_model(
            name, version, format=format, quantize=quantize, dataset=dataset, store=store
        )
    print_compression(result)
    if report is not None:
        path = repo_dir(ctx, report)
        path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        console().print(Text(f"report written to {path}", style="dim"))
