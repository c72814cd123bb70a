"""``skewless plan`` and ``skewless apply``: make the registry match the repository."""

import typer

from skewless.cli._context import console, guarded, open_store, status

__all__ = ["apply", "plan"]


@guarded
def plan(ctx: typer.Context) -> None:
    """Show what `apply` would change: objects added (+), changed (~) and removed (-).

    Definitions are read by importing the repository's Python files and are checked against
    their sources' real schemas. Nothing is written.
    """
    from skewless.repo import load_repo_objects

    with open_store(ctx) as store, status("Planning..."):
        objects = load_repo_objects(store.repo_path)
        the_plan = store.plan(objects, partial=False)
    typer.echo(the_plan.render())


@guarded
def apply(ctx: typer.Context) -> None:
    """Make the registry match the repository: print the plan, then apply it.

    Objects no longer defined in the repository are removed. All changes are committed at
    once; if another process changed one of the planned objects meanwhile, nothing is written
    and the error says to re-run.
    """
    from skewless.planning import apply_plan
    from skewless.repo import load_repo_objects

    with open_store(ctx) as store:
        with status("Planning..."):
            objects = load_repo_objects(store.repo_path)
            the_plan = store.plan(objects, partial=False)
        typer.echo(the_plan.render())
        if the_plan.is_empty:
            return
        with status("Applying..."):
            apply_plan(store.registry, store.online_store, the_plan)
        version = store.registry.version()
    n = len(the_plan.changes)
    console().print(f"Applied {n} change{'s' if n != 1 else ''} (registry version {version}).")
