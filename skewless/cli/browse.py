"""``skewless list``, ``describe`` and ``search``: read the registry."""

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from skewless.cli._context import console, guarded, open_store
from skewless.cli._tables import (
    KIND_LABELS,
    definition_table,
    entities_table,
    feature_services_table,
    feature_views_table,
    fmt_time,
    history_table,
    on_demand_views_table,
    search_table,
)

__all__ = ["DescribeKind", "Listing", "describe", "list_objects", "search"]


class Listing(StrEnum):
    """What ``skewless list`` shows."""

    entities = "entities"
    feature_views = "feature-views"
    feature_services = "feature-services"
    on_demand_feature_views = "on-demand-feature-views"


class DescribeKind(StrEnum):
    """Narrows ``skewless describe`` when a name is used by several kinds."""

    entity = "entity"
    feature_view = "feature-view"
    feature_service = "feature-service"
    on_demand_feature_view = "on-demand-feature-view"

    @property
    def registry_kind(self) -> str:
        return self.value.replace("-", "_")


@guarded
def list_objects(
    ctx: typer.Context,
    what: Annotated[
        Listing | None,
        typer.Argument(help="Only this kind of object (default: every kind)."),
    ] = None,
) -> None:
    """List registered entities, feature views, feature services and on-demand views."""
    with open_store(ctx) as store:
        snapshot = store.snapshot()
    out = console()
    kinds = [what] if what else list(Listing)
    empty = []
    for kind in kinds:
        if kind is Listing.entities and snapshot.entities:
            out.print(entities_table(snapshot.entities.values()))
        elif kind is Listing.feature_views and snapshot.feature_views:
            out.print(feature_views_table(snapshot.feature_views.values()))
        elif kind is Listing.feature_services and snapshot.feature_services:
            out.print(feature_services_table(snapshot.feature_services.values()))
        elif kind is Listing.on_demand_feature_views and snapshot.on_demand_feature_views:
            out.print(on_demand_views_table(snapshot.on_demand_feature_views.values()))
        else:
            empty.append(kind.value.replace("-", " "))
    if len(empty) == len(kinds) == len(Listing):
        out.print(Text("Nothing is registered yet: run `skewless apply`."))
    elif empty:
        out.print(Text(f"No {' and no '.join(empty)} registered."))


@guarded
def describe(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of an entity, feature view or service.")],
    kind: Annotated[
        DescribeKind | None,
        typer.Option("--kind", "-k", help="Which kind, when several share the name."),
    ] = None,
) -> None:
    """Show one definition and its version history (including removed objects)."""
    wanted = kind.registry_kind if kind else None
    with open_store(ctx) as store:
        versions = store.registry.history(name, wanted)
        snapshot = store.snapshot()
        current: dict[str, Any] = {
            "entity": snapshot.entities.get(name),
            "feature_view": snapshot.feature_views.get(name),
            "feature_service": snapshot.feature_services.get(name),
            "on_demand_feature_view": snapshot.on_demand_feature_views.get(name),
            "pipeline": snapshot.pipelines.get(name),
        }
        out = console()
        for obj_kind in KIND_LABELS:
            history = [v for v in versions if v.kind == obj_kind]
            if not history:
                continue
            latest = history[-1]
            out.print(Text(f"{KIND_LABELS[obj_kind]} {name}", style="bold"))
            obj = current[obj_kind]
            if obj is not None and not latest.removed:
                extra = {"version": str(latest.version), "applied at": fmt_time(latest.created_at)}
                if obj_kind == "feature_view":
                    extra["online table"] = snapshot.online_table(obj)
                    mark = store.registry.get_watermark(obj)
                    extra["materialized up to"] = (
                        fmt_time(mark.watermark) if mark else "never (run `skewless materialize`)"
                    )
                out.print(definition_table(obj, extra))
            else:
                out.print(
                    Text(f"removed in version {latest.version} at {fmt_time(latest.created_at)}")
                )
            out.print(history_table(history))


@guarded
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Text to find (case is ignored).")],
) -> None:
    """Find objects whose name, description, tags, owner or feature names contain TEXT."""
    with open_store(ctx) as store:
        hits = store.registry.search(text)
    out = console()
    if not hits:
        out.print(Text(f"No registered object matches {text!r}."))
        return
    out.print(search_table(hits))
