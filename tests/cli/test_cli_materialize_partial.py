"""A materialization where one view fails part-way (docs/semantics.md "Materialization"): the
views written before it stay written, the CLI says which, and exits 1. Real DuckDB over Parquet,
SQLite registry and online store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless.errors import MaterializationError
from skewless.types import Int64

from .conftest import Invoke

T0 = datetime(2024, 3, 1, tzinfo=UTC)
USER = Entity(name="user", join_keys=["user_id"])
NAMES = ("alpha", "broken", "gamma")


def view(name: str) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[USER],
        schema=[Field(name="score", dtype=Int64)],
        source=FileSource(path=f"data/{name}.parquet", timestamp_field="event_timestamp"),
    )


def repo_with_a_broken_view(root: Path) -> FeatureStore:
    (root / "data").mkdir()
    for name in NAMES:
        table = pa.table(
            {
                "user_id": pa.array([1], pa.int64()),
                "event_timestamp": pa.array([T0], pa.timestamp("us", "UTC")),
                "score": pa.array([7], pa.int64()),
            }
        )
        pq.write_table(table, root / "data" / f"{name}.parquet")
    (root / "feature_store.yaml").write_text("project: shop\nregistry: data/registry.db\n")
    store = FeatureStore(repo_path=root)
    store.apply([USER, *(view(n) for n in NAMES)])
    (root / "data" / "broken.parquet").write_bytes(b"not parquet at all")  # after apply
    return store


def watermarks(store: FeatureStore) -> dict[str, datetime | None]:
    marks = {n: store.registry.get_watermark(store.get_feature_view(n)) for n in NAMES}
    return {n: m.watermark if m is not None else None for n, m in marks.items()}


def test_the_error_says_what_was_written_and_what_was_not(tmp_path: Path) -> None:
    store = repo_with_a_broken_view(tmp_path)
    end = T0 + timedelta(hours=1)
    with pytest.raises(MaterializationError) as caught:
        store.materialize(T0, end, list(NAMES))
    error = caught.value
    assert error.failed == "broken" and error.not_run == ("gamma",)
    assert len(error.committed) == 1 and error.committed[0].startswith("alpha: 1 rows")
    assert "written before it, with their watermarks moved: 'alpha'" in str(error)
    assert "not run: 'gamma'" in str(error)
    assert watermarks(store) == {"alpha": end, "broken": None, "gamma": None}
    store.close()


def test_the_cli_prints_the_written_views_then_the_error_and_exits_1(
    tmp_path: Path, cli: Invoke
) -> None:
    repo_with_a_broken_view(tmp_path).close()
    args = ["--views", "alpha", "--views", "broken", "--views", "gamma"]
    result = cli("-r", tmp_path, "materialize", "2024-03-01", "2024-03-01T01:00:00", *args)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("alpha: 1 rows, 2024-03-01T00:00:00+00:00 .. ")
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: materializing feature view 'broken'")
    assert "'alpha'" in errors[0] and "not run: 'gamma'" in errors[0]
    assert "Traceback" not in result.stderr

    incremental = cli("-r", tmp_path, "materialize-incremental", "2024-03-01T02:00:00", *args)
    assert incremental.exit_code == 1
    assert incremental.stdout.startswith("alpha: ")


def test_a_single_failing_view_keeps_its_own_error(tmp_path: Path, cli: Invoke) -> None:
    repo_with_a_broken_view(tmp_path).close()
    result = cli("-r", tmp_path, "materialize", "2024-03-01", "2024-03-02", "--views", "broken")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: cannot read source 'data/broken.parquet'")
