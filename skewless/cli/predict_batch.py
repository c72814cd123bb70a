"""``skewless predict-batch``: score a file of entities with a registered model, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skewless.cli._context import console, fail, guarded, open_store

__all__ = ["predict_batch"]


@guarded
def predict_batch(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(
            help="NAME@ALIAS, NAME/VERSION or NAME (alias production), e.g. churn@production."
        ),
    ],
    entities: Annotated[
        Path,
        typer.Option(
            "--entities",
            help="Parquet file (or directory) or CSV file of entity keys, with an optional "
            "event_timestamp column.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The Parquet file to write (replaced atomically).")
    ],
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", help="The most entity rows retrieved and scored at once.")
    ] = 100_000,
    include_features: Annotated[
        bool, typer.Option("--include-features", help="Also write the model's input columns.")
    ] = False,
) -> None:
    """Score every entity row with a registered model on point-in-time correct features.

    Rows with an event_timestamp get the features as of that time (the training retrieval);
    rows without one are scored at each view's min(watermark, now), as the online path would
    answer them. Writes the entity columns, prediction, class probabilities (classifiers),
    model_name and model_version. See docs/batch-inference.md.
    """
    from skewless.serving.batch import batch_context
    from skewless.serving.batch import predict_batch as run

    if batch_rows < 1:
        fail(f"--batch-rows must be at least 1, got {batch_rows}")
    with open_store(ctx) as store:
        report, _ = run(
            batch_context(store),
            model,
            entities,
            out,
            batch_rows=batch_rows,
            include_features=include_features,
        )
    screen = console()
    screen.print(report.summary())
    if report.retrieval_seconds is not None:
        screen.print(
            f"retrieval {report.retrieval_seconds:.2f} s, model {report.model_seconds:.2f} s, "
            f"{report.batches} batch(es) of at most {batch_rows:,} rows"
        )
    else:
        screen.print(f"on Spark; model {report.model_seconds:.2f} s summed over the tasks")
    for view, at in report.as_of.items():
        screen.print(f"rows without event_timestamp: {view} as of {at.isoformat()}")
