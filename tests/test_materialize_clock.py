"""Watermarks never pass the store's clock (docs/semantics.md "Materialization", "The clock").

Real DuckDB engine over Parquet files, real SQLite registry and online store in ``tmp_path``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from test_materialize import HISTORY, USER, _view, h, write_rows

from skewless import FeatureStore
from skewless.config import RepoConfig


def store_with_clock(root: Path, clock: list[datetime]) -> FeatureStore:
    config = RepoConfig(
        project="shop",
        registry={"path": str(root / "registry.db")},
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        repo_path=root,
    )
    return FeatureStore(config=config, clock=lambda: clock[0])


def scores(store: FeatureStore, users: list[int]) -> list[int | None]:
    rows = [{"user_id": u} for u in users]
    return store.get_online_features(["stats:score"], rows).to_dict()["score"]


def test_an_end_in_the_future_stops_the_watermark_at_now(tmp_path: Path) -> None:
    write_rows(tmp_path, HISTORY)
    clock = [h(6)]
    store = store_with_clock(tmp_path, clock)
    store.apply([USER, _view()])
    report = store.materialize(h(0), h(1000))
    assert store.registry.get_watermark(_view()).watermark == h(6)
    assert report.views[0].watermark == h(6)
    assert "watermark stops at 2024-03-01T06:00:00+00:00" in report.render()
    assert scores(store, [1, 5]) == [12, 50]  # rows up to END are read all the same

    # A row with an earlier time than END arrives late; the next incremental run sees it.
    write_rows(tmp_path, [{"user_id": 6, "ts": h(7), "created": h(7), "score": 60}], part=1)
    clock[0] = h(8)
    store.materialize_incremental()
    assert scores(store, [6]) == [60]
    assert store.registry.get_watermark(_view()).watermark == h(8)
    store.close()


def test_an_end_in_the_past_is_the_watermark(tmp_path: Path) -> None:
    write_rows(tmp_path, HISTORY)
    store = store_with_clock(tmp_path, [h(100)])
    store.apply([USER, _view()])
    report = store.materialize(h(0), h(4))
    assert store.registry.get_watermark(_view()).watermark == h(4)
    assert "watermark stops" not in report.render()
    store.materialize_incremental(h(1000))
    assert store.registry.get_watermark(_view()).watermark == h(100)
    store.close()
