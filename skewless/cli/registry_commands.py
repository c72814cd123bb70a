"""Feast's registry commands: ``teardown``, ``registry-dump`` and ``KIND list``/``describe``.

``skewless teardown`` removes every registered object and the online data of every feature
view, as Feast's does; the registry keeps the history (``skewless describe NAME``), and the
offline files are never touched.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from skewless.cli import browse
from skewless.cli._context import console, guarded, open_store, status

__all__ = ["kind_app", "registry_dump", "teardown"]


@guarded
def teardown(ctx: typer.Context) -> None:
    """Remove every registered object and drop the online data of every feature view.

    Source files stay as they are, and the registry keeps its history; `skewless apply`
    registers the repository again.
    """
    from skewless.planning import apply_plan

    with open_store(ctx) as store:
        with status("Planning..."):
            the_plan = store.plan([], partial=False)
        if the_plan.is_empty:
            console().print("Nothing to tear down: no object is registered.")
            return
        typer.echo(the_plan.render())
        with status("Tearing down..."):
            apply_plan(store.registry, store.online_store, the_plan)
        version = store.registry.version()
    n = len(the_plan.changes)
    console().print(
        f"Removed {n} object{'s' if n != 1 else ''} and their online data "
        f"(registry version {version})."
    )


@guarded
def registry_dump(ctx: typer.Context) -> None:
    """Print the registered definitions as JSON (kind to list of definitions)."""
    with open_store(ctx) as store:
        snapshot = store.snapshot()
        dump: dict[str, Any] = {
            "project": store.project,
            "registry_version": store.registry.version(),
            "entities": [e.to_spec() for e in snapshot.entities.values()],
            "feature_views": [v.to_spec() for v in snapshot.feature_views.values()],
            "on_demand_feature_views": [
                v.to_spec() for v in snapshot.on_demand_feature_views.values()
            ],
            "feature_services": [s.to_spec() for s in snapshot.feature_services.values()],
            "pipelines": [p.to_spec() for p in snapshot.pipelines.values()],
        }
    typer.echo(orjson.dumps(dump, option=orjson.OPT_INDENT_2, default=str).decode())


def kind_app(listing: browse.Listing, kind: browse.DescribeKind) -> typer.Typer:
    """``skewless KIND list`` and ``skewless KIND describe NAME`` (Feast's command shapes)."""
    label = listing.value.replace("-", " ")
    app = typer.Typer(help=f"List or describe registered {label}.", no_args_is_help=True)

    @app.command("list")
    def list_kind(ctx: typer.Context) -> None:
        browse.list_objects(ctx=ctx, what=listing)

    list_kind.__doc__ = f"List the registered {label}."

    @app.command("describe")
    def describe_kind(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="The object's name.")],
    ) -> None:
        browse.describe(ctx=ctx, name=name, kind=kind)

    describe_kind.__doc__ = "Show one definition and its version history."
    return app
