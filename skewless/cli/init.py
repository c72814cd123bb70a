"""``skewless init NAME``: scaffold a runnable repository with sample data."""

from typing import Annotated

import typer
from rich.text import Text

from skewless.cli._context import console, fail, guarded, repo_dir

__all__ = ["init"]


@guarded
def init(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(help="Directory to create; its name becomes the project name."),
    ],
) -> None:
    """Create a new feature repository: feature_store.yaml, definitions and sample data.

    The sample data is a month of daily snapshots of 500 shop users, ending now, plus churn
    labels to use as an entity frame. An existing non-empty directory is never touched.
    """
    from skewless.demo import DEFINITIONS_FILE, project_name_for, scaffold_repo

    target = repo_dir(ctx, name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail(f"{target} already exists: choose another NAME or remove that directory first")
    project = project_name_for(target)
    made = scaffold_repo(target, project=project, n_users=500, n_days=30)
    data = made.data
    out = console()
    out.print(Text(f"Created repository {project!r} in {made.path}", style="bold"))
    rows = [
        ("feature_store.yaml", "configuration: SQLite registry and online store, DuckDB offline"),
        (DEFINITIONS_FILE, "entity user, feature view user_stats, feature service churn_model_v1"),
        (
            "data/user_stats.parquet",
            f"{data.user_stats.num_rows:,} rows: {data.n_users} users x {data.n_days} daily "
            f"snapshots up to {data.end:%Y-%m-%d %H:%M} UTC",
        ),
        ("data/churn_labels.parquet", f"{data.labels.num_rows:,} churn labels"),
    ]
    width = max(len(path) for path, _ in rows)
    for path, what in rows:
        out.print(Text(f"  {path:<{width}}  {what}"))
    out.print(Text("Next:"))
    out.print(Text(f"  cd {made.path}"))
    out.print(Text("  skewless apply"))
    out.print(Text("  skewless materialize-incremental"))
