"""Materialization (docs/semantics.md "Materialization") through a real repository.

Real DuckDB engine over Parquet files, real SQLite registry and online store in ``tmp_path``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from embedded_store import embedded_store
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless._contracts import OnlineRow
from skewless._progress import progress
from skewless.config import SqliteOnlineConfig
from skewless.errors import MaterializationError, TimeRangeError, UnknownObjectError
from skewless.materialize import MaterializeContext, materialize, materialize_incremental
from skewless.online.codec import encode_key
from skewless.online.sqlite.store import SqliteOnlineStore
from skewless.types import Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
FAR = T0 + timedelta(days=365)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


USER = Entity(name="user", join_keys=["user_id"])
REFS = ["stats:score", "stats:label", "stats:amount"]


def _view(ttl: timedelta | None = None, created: bool = True, online: bool = True) -> FeatureView:
    return FeatureView(
        name="stats",
        entities=[USER],
        ttl=ttl,
        online=online,
        schema=[
            Field(name="score", dtype=Int64),
            Field(name="label", dtype=String),
            Field(name="amount", dtype=Float64),
        ],
        source=FileSource(
            path="data/stats",
            timestamp_field="event_timestamp",
            created_timestamp_column="created" if created else "",
        ),
    )


def write_rows(root: Path, rows: list[dict[str, Any]], part: int = 0) -> None:
    """One Parquet file of source rows (later parts come later in source order)."""
    folder = root / "data" / "stats"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = pa.timestamp("us", "UTC")
    table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r["ts"] for r in rows], stamp),
            "created": pa.array([r.get("created") for r in rows], stamp),
            "score": pa.array([r.get("score") for r in rows], pa.int64()),
            "label": pa.array([r.get("label") for r in rows], pa.string()),
            "amount": pa.array([r.get("amount") for r in rows], pa.float64()),
        }
    )
    pq.write_table(table, folder / f"part-{part:03d}.parquet")


def open_store(root: Path, now: datetime = FAR) -> FeatureStore:
    return embedded_store(root, now)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[FeatureStore]:
    write_rows(tmp_path, HISTORY)
    store = open_store(tmp_path)
    store.apply([USER, _view()])
    yield store
    store.close()


# user 1: a tie on ts broken by created; user 2: a full tie broken by source order (the later
# row wins); user 3: a null created ranks lowest; user 4: one early row; user 5: late only.
HISTORY = [
    {"user_id": 1, "ts": h(1), "created": h(1), "score": 10, "label": "a", "amount": 1.0},
    {"user_id": 1, "ts": h(5), "created": h(6), "score": 12, "label": "c", "amount": 3.0},
    {"user_id": 1, "ts": h(5), "created": h(5), "score": 11, "label": "b", "amount": 2.0},
    {"user_id": 2, "ts": h(3), "created": h(3), "score": 20, "label": "x"},
    {"user_id": 2, "ts": h(3), "created": h(3), "score": 21, "label": "y"},
    {"user_id": 3, "ts": h(4), "created": None, "score": 30},
    {"user_id": 3, "ts": h(4), "created": h(0), "score": 31},
    {"user_id": 3, "ts": h(4), "created": None, "score": 32},
    {"user_id": 4, "ts": h(0), "created": h(0), "score": 40, "amount": None},
    {"user_id": 5, "ts": h(9), "created": h(9), "score": 50, "label": "late"},
]
USERS = [1, 2, 3, 4, 5, 6]


def _rank(row: dict[str, Any], index: int) -> tuple:
    created = row.get("created")
    return (row["ts"], created is not None, created or T0, index)


def reference(rows: list[dict[str, Any]], ranges: Iterable[tuple[datetime | None, datetime]]):
    """Per key, the winner among rows inside any of the ranges (rows in source order)."""
    best: dict[int, tuple[tuple, dict[str, Any]]] = {}
    for index, row in enumerate(rows):
        if not any((s is None or s <= row["ts"]) and row["ts"] <= e for s, e in ranges):
            continue
        rank = _rank(row, index)
        if row["user_id"] not in best or rank > best[row["user_id"]][0]:
            best[row["user_id"]] = (rank, row)
    return {k: v for k, (_, v) in best.items()}


def online_state(store: FeatureStore) -> dict[int, tuple]:
    """What the online store holds per user: (event time, score, label, amount)."""
    response = store.get_online_features(REFS, [{"user_id": u} for u in USERS])
    values, times = response.to_dict(), response.event_timestamps
    return {
        u: (times["score"][i], values["score"][i], values["label"][i], values["amount"][i])
        for i, u in enumerate(USERS)
        if times["score"][i] is not None
    }


def expected_state(winners: dict[int, dict[str, Any]]) -> dict[int, tuple]:
    return {
        u: (r["ts"], r.get("score"), r.get("label"), r.get("amount")) for u, r in winners.items()
    }


# -- ranges, idempotence, order ------------------------------------------------------------


def test_materialize_writes_each_keys_winner(repo: FeatureStore) -> None:
    report = repo.materialize(h(0), h(8))
    assert online_state(repo) == expected_state(reference(HISTORY, [(h(0), h(8))]))
    (line,) = report.views
    assert (line.view, line.rows, line.start, line.end) == ("stats", 4, h(0), h(8))
    assert report.rows == 4 and "stats: 4 rows" in report.render()


def test_rerunning_leaves_the_same_state(repo: FeatureStore) -> None:
    repo.materialize(h(0), h(8))
    first = online_state(repo)
    repo.materialize(h(0), h(8))
    assert online_state(repo) == first


def test_an_older_range_after_a_newer_one_changes_nothing(repo: FeatureStore) -> None:
    repo.materialize(h(4), h(10))
    newer = online_state(repo)
    repo.materialize(h(0), h(3))
    state = online_state(repo)
    assert state == expected_state(reference(HISTORY, [(h(4), h(10)), (h(0), h(3))]))
    assert {u: state[u] for u in newer} == newer  # only keys absent from the newer run changed


@settings(max_examples=25)
@given(cuts=st.lists(st.integers(0, 10), min_size=1, max_size=4), order=st.randoms())
def test_any_order_of_ranges_gives_the_reference_state(tmp_path_factory, cuts, order) -> None:
    root = tmp_path_factory.mktemp("repo")
    write_rows(root, HISTORY)
    store = open_store(root)
    store.apply([USER, _view()])
    points = sorted({h(c) for c in cuts} | {h(0), h(10)})
    ranges = list(itertools.pairwise(points)) or [(h(0), h(10))]
    order.shuffle(ranges)
    for start, end in ranges:
        store.materialize(start, end)
    assert online_state(store) == expected_state(reference(HISTORY, ranges))
    assert store.registry.get_watermark(_view()).watermark == max(e for _, e in ranges)
    store.close()


# -- errors --------------------------------------------------------------------------------


def test_end_before_start_names_both(repo: FeatureStore) -> None:
    with pytest.raises(TimeRangeError, match=r"END 2024-03-01T01:00:00\+00:00 is before START"):
        repo.materialize(h(2), h(1))
    assert repo.registry.get_watermark(_view()) is None


def test_unknown_views_are_listed(repo: FeatureStore) -> None:
    with pytest.raises(UnknownObjectError, match=r"'nope'.*feature views: stats"):
        repo.materialize(h(0), h(1), ["stats", "nope"])
    assert online_state(repo) == {}


def test_offline_only_views_are_skipped_or_refused(tmp_path: Path) -> None:
    write_rows(tmp_path, HISTORY)
    store = open_store(tmp_path)
    offline = replace(_view(online=False), name="history")
    store.apply([USER, _view(), offline])
    report = store.materialize(h(0), h(10))
    assert [v.view for v in report.views] == ["stats"]
    with pytest.raises(MaterializationError, match="'history' have online=False"):
        store.materialize(h(0), h(10), ["history"])
    store.close()


# -- watermarks ----------------------------------------------------------------------------


class FailingStore(SqliteOnlineStore):
    """The real SQLite store, failing on its ``fail_on``-th write (a crash mid-way)."""

    def __init__(self, *args: Any, fail_on: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_on = fail_on
        self.writes: list[int] = []

    def write(self, table: str, rows: Iterable[OnlineRow]) -> int:
        batch = list(rows)
        if len(self.writes) + 1 == self.fail_on:
            raise OSError("disk full")
        self.writes.append(len(batch))
        return super().write(table, batch)


def _context(store: FeatureStore, online: Any, batch_rows: int) -> MaterializeContext:
    return MaterializeContext(
        engine=store.offline_engine,
        online=online,
        registry=store.registry,
        snapshot=store.snapshot(),
        batch_rows=batch_rows,
    )


def test_watermark_moves_only_after_every_batch_is_committed(repo: FeatureStore) -> None:
    config = repo.config.online_store
    assert isinstance(config, SqliteOnlineConfig)
    failing = FailingStore(config, repo.repo_path, fail_on=2)
    with pytest.raises(MaterializationError, match=r"watermark did not move.*rerun"):
        materialize(_context(repo, failing, batch_rows=2), h(0), h(10), None)
    failing.close()
    assert failing.writes == [2]  # the first batch was committed, the second failed
    assert repo.registry.get_watermark(_view()) is None
    assert len(online_state(repo)) == 2

    report = repo.materialize(h(0), h(10))  # the rerun completes the work
    assert report.rows == 5
    assert online_state(repo) == expected_state(reference(HISTORY, [(h(0), h(10))]))
    assert repo.registry.get_watermark(_view()).watermark == h(10)


def test_a_failed_run_keeps_the_previous_watermark(repo: FeatureStore) -> None:
    repo.materialize(h(0), h(2))
    config = repo.config.online_store
    failing = FailingStore(config, repo.repo_path, fail_on=1)
    with pytest.raises(MaterializationError):
        materialize_incremental(_context(repo, failing, batch_rows=10), h(10), None)
    failing.close()
    assert repo.registry.get_watermark(_view()).watermark == h(2)


def test_batches_are_bounded(repo: FeatureStore, tmp_path: Path) -> None:
    write_rows(tmp_path, [{"user_id": 100 + i, "ts": h(1), "score": i} for i in range(50)], part=1)
    counting = FailingStore(repo.config.online_store, repo.repo_path, fail_on=0)
    report = materialize(_context(repo, counting, batch_rows=7), h(0), h(10), None)
    counting.close()
    assert report.rows == 55 == sum(counting.writes)
    assert max(counting.writes) <= 7 and len(counting.writes) >= 8


def test_a_view_changed_meanwhile_keeps_nothing(repo: FeatureStore) -> None:
    ctx = MaterializeContext(
        engine=repo.offline_engine,
        online=repo.online_store,
        registry=repo.registry,
        snapshot=repo.snapshot(),
    )
    repo.apply([_view(ttl=timedelta(days=3))])  # a new data version while the run is planned
    report = materialize(ctx, h(0), h(10), None)
    assert "changed meanwhile" in report.render()
    table = ctx.snapshot.online_table(_view())
    assert repo.online_store.read([(table, [encode_key((1,))])]) == [[None]]
    assert repo.registry.get_watermark(_view(ttl=timedelta(days=3))) is None


# -- incremental ---------------------------------------------------------------------------


def test_incremental_starts_at_end_minus_ttl_then_at_the_watermark(tmp_path: Path) -> None:
    write_rows(tmp_path, HISTORY)
    store = open_store(tmp_path)
    view = _view(ttl=timedelta(hours=2))
    store.apply([USER, view])
    first = store.materialize_incremental(h(5))
    assert (first.views[0].start, first.views[0].end) == (h(3), h(5))
    assert online_state(store).keys() == {1, 2, 3}
    second = store.materialize_incremental(h(10))
    assert (second.views[0].start, second.views[0].end) == (h(5), h(10))
    assert store.registry.get_watermark(view).watermark == h(10)
    assert online_state(store).keys() == {1, 2, 3, 5}
    again = store.materialize_incremental(h(8))  # the watermark is past END: nothing to do
    assert again.rows == 0 and "already materialized" in again.render()
    assert store.registry.get_watermark(view).watermark == h(10)
    store.close()


def test_incremental_with_unbounded_ttl_reads_all_history(repo: FeatureStore) -> None:
    report = repo.materialize_incremental(h(10))
    assert report.views[0].start is None
    assert online_state(repo) == expected_state(reference(HISTORY, [(None, h(10))]))


def test_incremental_defaults_to_the_stores_clock(tmp_path: Path) -> None:
    write_rows(tmp_path, HISTORY)
    store = open_store(tmp_path, now=h(4))
    store.apply([USER, _view()])
    assert store.materialize_incremental().views[0].end == h(4)
    store.close()


def test_late_rows_are_picked_up_by_created_time(repo: FeatureStore, tmp_path: Path) -> None:
    repo.materialize_incremental(h(10))
    mark = repo.registry.get_watermark(_view())
    assert (mark.watermark, mark.max_created) == (h(10), h(9))
    late = [
        # created after the previous run's greatest created time: picked up
        {"user_id": 4, "ts": h(2), "created": h(11), "score": 41},
        {"user_id": 1, "ts": h(5), "created": h(12), "score": 13, "label": "d"},
        {"user_id": 6, "ts": h(1), "created": h(11), "score": 60},
        # created before it: the previous run is taken to have seen it, so it is not
        {"user_id": 2, "ts": h(8), "created": h(8), "score": 22},
        # older than the stored row: offered again, never replaces it
        {"user_id": 5, "ts": h(8), "created": h(13), "score": 51},
    ]
    write_rows(tmp_path, late, part=1)
    report = repo.materialize_incremental(h(12))
    assert report.views[0].start == h(10)
    state = online_state(repo)
    assert state[4][1] == 41 and state[1][1:3] == (13, "d") and state[6][1] == 60
    assert state[2][1] == 21 and state[5][1] == 50
    assert repo.registry.get_watermark(_view()).max_created == h(13)
    assert repo.materialize_incremental(h(12)).rows == 0  # nothing new since


def test_an_explicit_older_range_does_not_hide_late_rows(
    repo: FeatureStore, tmp_path: Path
) -> None:
    repo.materialize_incremental(h(10))  # watermark h10, greatest created h9
    late = [
        {"user_id": 4, "ts": h(6), "created": h(11), "score": 42},  # late, after the range below
        {"user_id": 6, "ts": h(2), "created": h(12), "score": 61},  # late, inside it
    ]
    write_rows(tmp_path, late, part=1)
    repo.materialize(h(0), h(3))  # sees user 6 only; must not claim to have seen up to h12
    assert online_state(repo)[6][1] == 61 and online_state(repo)[4][1] == 40
    repo.materialize_incremental(h(12))
    assert online_state(repo)[4][1] == 42


def test_views_without_created_column_have_no_late_rows(tmp_path: Path) -> None:
    write_rows(tmp_path, HISTORY)
    store = open_store(tmp_path)
    view = _view(created=False)
    store.apply([USER, view])
    store.materialize_incremental(h(10))
    assert store.registry.get_watermark(view).max_created is None
    write_rows(tmp_path, [{"user_id": 4, "ts": h(2), "created": h(11), "score": 41}], part=1)
    store.materialize_incremental(h(12))
    assert online_state(store)[4][1] == 40
    store.close()


# -- progress ------------------------------------------------------------------------------


def test_progress_bar_draws_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("materialize stats", enabled=False) as quiet:
        quiet.advance(5)
    assert quiet.completed == 5 and capsys.readouterr().err == ""
    with progress("materialize stats", enabled=True) as bar:
        bar.advance(1234)
    assert "materialize stats" in capsys.readouterr().err
    with progress("materialize stats") as default:  # stderr is not a terminal under pytest
        default.advance(1)
    assert capsys.readouterr().err == ""
