"""Rich tables of definitions and their history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from skewless.definitions import Entity, FeatureService, FeatureView, OnDemandFeatureView, Pipeline

__all__ = [
    "KIND_LABELS",
    "definition_table",
    "entities_table",
    "feature_services_table",
    "feature_views_table",
    "fmt_time",
    "fmt_ttl",
    "history_table",
    "on_demand_views_table",
    "search_table",
]

KIND_LABELS = {
    "entity": "entity",
    "feature_view": "feature view",
    "feature_service": "feature service",
    "on_demand_feature_view": "on-demand feature view",
    "pipeline": "pipeline",
}


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _t(value: object) -> Text:
    """Plain text: user-written strings are never read as markup."""
    return Text("" if value is None else str(value))


def fmt_tags(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def fmt_ttl(ttl: timedelta | None) -> str:
    """``2d``, ``6h``, ``90m``, ``45s`` or ``unbounded``.

    >>> fmt_ttl(timedelta(days=2)), fmt_ttl(None), fmt_ttl(timedelta(minutes=90))
    ('2d', 'unbounded', '90m')
    """
    if not ttl:
        return "unbounded"
    seconds = ttl.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def fmt_time(value: datetime | None) -> str:
    """An instant as ``YYYY-MM-DD HH:MM:SS`` UTC (``-`` for none)."""
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S")


def entities_table(entities: Iterable[Entity]) -> Table:
    table = _table("NAME", "JOIN KEYS", "DESCRIPTION", "OWNER", "TAGS", title="Entities")
    for e in sorted(entities, key=lambda e: e.name):
        table.add_row(
            _t(e.name),
            _t(", ".join(e.join_keys)),
            _t(e.description),
            _t(e.owner),
            _t(fmt_tags(e.tags)),
        )
    return table


def feature_views_table(views: Iterable[FeatureView]) -> Table:
    table = _table("NAME", "ENTITIES", "FEATURES", "TTL", "ONLINE", "SOURCE", title="Feature views")
    for v in sorted(views, key=lambda v: v.name):
        table.add_row(
            _t(v.name),
            _t(", ".join(e.name for e in v.entities)),
            _t(", ".join(v.feature_names)),
            _t(fmt_ttl(v.ttl)),
            _t("yes" if v.online else "no"),
            _t(v.source.path),
        )
    return table


def feature_services_table(services: Iterable[FeatureService]) -> Table:
    table = _table("NAME", "FEATURES", "DESCRIPTION", "OWNER", title="Feature services")
    for s in sorted(services, key=lambda s: s.name):
        features = "; ".join(f"{p.view_name}: {', '.join(p.features)}" for p in s.projections)
        table.add_row(_t(s.name), _t(features), _t(s.description), _t(s.owner))
    return table


def on_demand_views_table(views: Iterable[OnDemandFeatureView]) -> Table:
    table = _table("NAME", "INPUTS", "FEATURES", "MODE", "OWNER", title="On-demand feature views")
    for v in sorted(views, key=lambda v: v.name):
        table.add_row(
            _t(v.name),
            _t(_odfv_inputs(v)),
            _t(", ".join(f.name for f in v.schema)),
            _t(v.mode),
            _t(v.owner),
        )
    return table


def _odfv_inputs(view: OnDemandFeatureView) -> str:
    inputs = [f"{p.view_name}: {', '.join(p.features)}" for p in view.sources]
    inputs += [
        f"request {r.name}: {', '.join(f.name for f in r.schema)}" for r in view.request_sources
    ]
    return "; ".join(inputs)


def search_table(hits: Sequence[tuple[str, str, Any]]) -> Table:
    table = _table("KIND", "NAME", "DESCRIPTION", "OWNER", "TAGS")
    for kind, name, obj in hits:
        table.add_row(
            _t(KIND_LABELS.get(kind, kind)),
            _t(name),
            _t(obj.description),
            _t(obj.owner),
            _t(fmt_tags(obj.tags)),
        )
    return table


def definition_table(
    obj: Entity | FeatureView | FeatureService | OnDemandFeatureView | Pipeline,
    extra: dict[str, str],
) -> Table:
    """One definition as FIELD / VALUE rows; ``extra`` rows (version, watermark) go last."""
    rows: list[tuple[str, str]] = [("name", obj.name)]
    if isinstance(obj, Entity):
        rows.append(("join keys", ", ".join(obj.join_keys)))
        if obj.value_type is not None:
            rows.append(("value type", str(obj.value_type)))
    elif isinstance(obj, FeatureView):
        rows += [
            ("entities", ", ".join(f"{e.name} ({', '.join(e.join_keys)})" for e in obj.entities)),
            ("features", ", ".join(f"{f.name}: {f.dtype}" for f in obj.features)),
            ("ttl", fmt_ttl(obj.ttl)),
            ("online", "yes" if obj.online else "no"),
            ("source", f"{obj.source.path} ({obj.source.file_format})"),
            ("timestamp field", obj.source.timestamp_field),
            ("created timestamp", obj.source.created_timestamp_column or "-"),
        ]
        if obj.push_source is not None:
            rows.append(("push source", obj.push_source.name))
        if obj.source.field_mapping:
            mapping = ", ".join(f"{k} -> {v}" for k, v in obj.source.field_mapping.items())
            rows.append(("field mapping", mapping))
    elif isinstance(obj, OnDemandFeatureView):
        rows += [
            ("inputs", _odfv_inputs(obj)),
            ("features", ", ".join(f"{f.name}: {f.dtype}" for f in obj.schema)),
            ("mode", obj.mode),
        ]
    elif isinstance(obj, Pipeline):
        rows += [(f"step {s.name}", s.reference) for s in obj.steps]
        rows += [(f"param {k}", repr(v)) for k, v in obj.params.items()]
    else:
        rows += [(f"view {p.view_name}", ", ".join(p.features)) for p in obj.projections]
    rows += [
        ("description", obj.description or "-"),
        ("owner", obj.owner or "-"),
        ("tags", fmt_tags(obj.tags) or "-"),
    ]
    rows += list(extra.items())
    table = _table("FIELD", "VALUE")
    for key, value in rows:
        table.add_row(_t(key), _t(value))
    return table


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(before) | set(after))
    return [("ttl" if k == "ttl_seconds" else k) for k in keys if before.get(k) != after.get(k)]


def history_table(versions: Sequence[Any]) -> Table:
    """Versions of one object, oldest first: what each one changed."""
    table = _table("VERSION", "APPLIED AT (UTC)", "HASH", "CHANGE", title="History")
    previous: Mapping[str, Any] | None = None
    for v in versions:
        if v.removed:
            change = "removed"
        elif previous is None:
            change = "created"
        else:
            change = ", ".join(_changed_keys(previous, v.spec)) or "re-applied"
        table.add_row(_t(v.version), _t(fmt_time(v.created_at)), _t(v.hash[:12]), _t(change))
        previous = None if v.removed else v.spec
    return table
