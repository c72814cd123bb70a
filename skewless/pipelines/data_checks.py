"""The data checks of the retraining pipeline: schema, nulls, ranges and freshness.

The label source and the source of every feature view a feature service reads are checked
before a training set is built from them, with the column statistics saved datasets use
(:func:`skewless.dataset_stats.column_stats`). Each check that fails is one line of the
error; the summary of what passed (rows, newest time, nulls, bounds) is the step's output,
so a change of the data changes the training set step's inputs and defeats its cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from skewless.dataset_stats import column_stats
from skewless.definitions import FeatureView, FileSource
from skewless.errors import PipelineStepError, SchemaMismatchError
from skewless.offline.sources import resolve_files
from skewless.planning import check_view_schema

__all__ = ["check_source", "read_source"]


def read_source(source: FileSource, repo_path: Path, columns: Sequence[str] | None) -> pa.Table:
    """The rows of a file source (its Parquet or CSV files), with only ``columns``."""
    tables = []
    for file in resolve_files(source, repo_path):
        if source.file_format == "csv":
            table = pa_csv.read_csv(file)
            tables.append(table.select(list(columns)) if columns else table)
        else:
            tables.append(pq.read_table(file, columns=list(columns) if columns else None))
    return pa.concat_tables(tables, promote_options="default")


def _newest(table: pa.Table, column: str) -> datetime | None:
    times = table.column(column)
    if not pa.types.is_timestamp(times.type):
        return None
    newest = pc.max(times).as_py()
    if newest is not None and newest.tzinfo is None:
        from datetime import UTC

        newest = newest.replace(tzinfo=UTC)
    return newest


def check_source(
    what: str,
    table: pa.Table,
    *,
    timestamp_field: str,
    required: Sequence[str],
    not_null: Sequence[str],
    max_null_fraction: float | None,
    ranges: Mapping[str, Sequence[float | None]],
    max_age_s: float | None,
    now: datetime,
) -> tuple[dict[str, Any], list[str]]:
    """Check one source's rows; its summary and the problems found (one line each)."""
    problems: list[str] = []
    missing = [c for c in [*required, timestamp_field] if c not in table.column_names]
    if missing:
        return {}, [f"{what} lacks column(s) {', '.join(missing)}"]
    if table.num_rows == 0:
        return {"rows": 0}, [f"{what} has no rows"]
    columns: dict[str, Any] = {}
    for name in required:
        stats = column_stats(table.column(name))
        nulls = int(stats.get("nulls", 0))
        share = nulls / table.num_rows
        summary = {"nulls": nulls, "min": stats.get("min"), "max": stats.get("max")}
        columns[name] = summary
        if name in not_null and nulls:
            problems.append(f"{what}: {name} has {nulls} null(s) of {table.num_rows} rows")
        elif max_null_fraction is not None and share > max_null_fraction:
            problems.append(
                f"{what}: {name} is {share:.1%} null, above max_null_fraction "
                f"{max_null_fraction:.1%}"
            )
        if name in ranges:
            low, high = [*ranges[name], None, None][:2]
            lowest, highest = stats.get("min"), stats.get("max")
            if low is not None and lowest is not None and lowest < low:
                problems.append(f"{what}: {name} goes down to {lowest:g}, below its range {low:g}")
            if high is not None and highest is not None and highest > high:
                problems.append(f"{what}: {name} goes up to {highest:g}, above its range {high:g}")
    newest = _newest(table, timestamp_field)
    age = (now - newest).total_seconds() if newest is not None else None
    if max_age_s is not None and age is not None and age > max_age_s:
        problems.append(
            f"{what}: its newest row ({newest:%Y-%m-%d %H:%M} UTC) is {age / 3600:.1f}h old, "
            f"older than max_age_s={max_age_s:g}"
        )
    summary = {
        "rows": table.num_rows,
        "newest": newest.isoformat() if newest else None,
        "columns": columns,
    }
    return summary, problems


def check_view(
    view: FeatureView,
    engine: Any,
    repo_path: Path,
    *,
    max_null_fraction: float | None,
    ranges: Mapping[str, Sequence[float | None]],
    max_age_s: float | None,
    now: datetime,
) -> tuple[dict[str, Any], list[str]]:
    """Check the source of a feature view: its schema, then its rows."""
    what = f"the source of feature view {view.name!r}"
    try:
        check_view_schema(view, engine.source_schema(view))
    except SchemaMismatchError as exc:
        return {}, [str(exc)]
    if not isinstance(view.batch_source, FileSource):
        return {"note": "not a file source: rows not checked"}, []
    source = view.batch_source
    mapping = {v: k for k, v in source.field_mapping.items()}
    wanted = [*view.join_keys, *(f.name for f in view.value_columns), source.timestamp_field]
    raw = [mapping.get(c, c) for c in dict.fromkeys(wanted)]
    table = read_source(source, repo_path, raw)
    table = table.rename_columns([source.field_mapping.get(c, c) for c in table.column_names])
    return check_source(
        what,
        table,
        timestamp_field=source.field_mapping.get(source.timestamp_field, source.timestamp_field),
        required=[f.name for f in view.value_columns],
        not_null=list(view.join_keys),
        max_null_fraction=max_null_fraction,
        ranges=ranges,
        max_age_s=max_age_s,
        now=now,
    )


def raise_problems(problems: Sequence[str]) -> None:
    """Raise :class:`PipelineStepError` naming every problem, on one line."""
    if problems:
        raise PipelineStepError(
            "data validation failed: " + "; ".join(problems) + " (fix the data, or the limits "
            "of the pipeline's params)"
        )
