"""The benchmarks at a tiny size: every variant each one times must give the same answer.

Each bench script checks its variants against one another before timing and exits non-zero
on a disagreement; these tests run the scripts (``--quick``, data in a temporary directory)
and show that the checks do catch a variant that answers another question.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from _agree import Disagreement, require_equal, require_same_tables, same_tables  # noqa: E402
from redis_server import (  # noqa: E402
    RedisServer,
    clean_redis,  # noqa: F401  (fixture)
    find_redis_server,
    redis_server,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.bench


def run_bench(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, f"{script} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


# -- the comparison itself ------------------------------------------------------------------
def test_same_tables_ignores_row_order_and_casts_to_the_reference_types() -> None:
    a = pa.table({"k": [1, 2, 3], "v": pa.array([1.0, None, 3.0], pa.float64())})
    b = pa.table({"v": pa.array([3.0, 1.0, None], pa.float32()), "k": [3, 1, 2]})
    assert same_tables(a, b) is None


def test_same_tables_names_the_column_and_row_that_differ() -> None:
    a = pa.table({"k": [1, 2], "s": ["x", "y"]})
    problem = same_tables(a, pa.table({"k": [1, 2], "s": ["x", None]}))
    assert problem is not None and "'s'" in problem and "{'k': 2, 's': 'y'}" in problem
    assert "rows instead of" in (same_tables(a, a.slice(0, 1)) or "")
    assert "missing" in (same_tables(a, a.select(["k"])) or "")


def test_float_tolerance_is_the_stated_one() -> None:
    a = pa.table({"k": [1, 2], "x": [1.0, 2.0]})
    near = pa.table({"k": [1, 2], "x": [1.0 + 1e-12, 2.0]})
    assert same_tables(a, near) is not None  # exact unless a tolerance is given
    assert same_tables(a, near, rtol=1e-9) is None
    assert same_tables(a, pa.table({"k": [1, 2], "x": [1.0, None]}), rtol=1e-9) is not None


def test_a_disagreement_ends_the_process_non_zero() -> None:
    a = pa.table({"k": [1]})
    with pytest.raises(Disagreement) as caught:
        require_same_tables("floor", a, "skewless", pa.table({"k": [2]}))
    assert caught.value.code != 0 and "skewless against floor" in str(caught.value.code)
    with pytest.raises(Disagreement):
        require_equal("floor", [b"a", b"b"], "store", [b"a", b"c"])
    require_equal("floor", [b"a"], "store", [b"a"])


# -- point-in-time retrieval ----------------------------------------------------------------
def test_pit_variants_agree_at_smoke_size(tmp_path: Path) -> None:
    out = run_bench("pit.py", "--quick", "--data", str(tmp_path))
    assert "answers agree: floor, skewless, textbook query" in out
    assert "| smoke: 0.02M x 2k | textbook query |" in out


def test_pit_check_catches_a_floor_without_the_tie_break(tmp_path: Path) -> None:
    """The data has corrections (same user and event time, later created time): an ASOF
    join on the event time alone picks the wrong one of them, and the check says so."""
    import duckdb
    import pit
    import pyarrow.parquet as pq

    ds = pit.Dataset.of("smoke", tmp_path)
    pit.generate(ds)
    entity = pq.read_table(ds.entity_file)
    floor = pit.runner(ds, "floor")(entity)
    require_same_tables("floor", floor, "textbook", pit.runner(ds, "textbook_query")(entity))
    con = duckdb.connect()
    con.register("entity", entity)
    sql = pit.textbook_sql(ds)
    naive = sql[: sql.index(" QUALIFY")] + sql[sql.index(") AS f") :]
    with pytest.raises(Disagreement):
        require_same_tables("floor", floor, "asof only", con.sql(naive).to_arrow_table())


# -- window aggregations, offline -----------------------------------------------------------
def test_window_variants_agree_at_quick_size() -> None:
    out = run_bench("windows.py", "--quick")
    assert "answers agree: skewless, floor, window query" in out
    assert "range join" in out and "target: within 2x of the floor: " in out


# -- materialization ------------------------------------------------------------------------
def test_materialize_floors_agree_and_the_upsert_run_conflicts(tmp_path: Path) -> None:
    out = run_bench("materialize.py", "--quick", "--data", str(tmp_path))
    assert "answers agree: the store's table equals the raw sqlite3 floor's" in out
    hits = re.search(r"([\d,]+) over a stored key \(([\d,]+) newer, ([\d,]+) ties\)", out)
    assert hits is not None, out
    total, newer, ties = (int(g.replace(",", "")) for g in hits.groups())
    assert newer > 0 and ties > 0 and newer + ties == total
    verdicts = re.findall(r"\(target 2\.5x: (met|not met)\); .*\(target 1M: (met|not met)\)", out)
    assert len(verdicts) == 2, out


def test_materialize_floor_upsert_follows_the_write_rule(tmp_path: Path) -> None:
    """docs/semantics.md, "Materialization": a row replaces the stored one when its (ts, c)
    is greater or equal; a null c ranks lowest."""
    import materialize

    stored = [(b"a", 10, 5, b"old"), (b"b", 10, None, b"old"), (b"c", 10, 5, b"old")]
    conn = materialize._floor_db(tmp_path / "f.db", stored)
    incoming = [(b"c", 10, 5, b"tie"), (b"a", 9, 99, b"older"), (b"b", 10, 1, b"created")]
    materialize.floor_write(incoming, conn, upsert=True)
    assert materialize.rows_of(conn, "t") == [
        (b"a", 10, 5, b"old"),
        (b"b", 10, 1, b"created"),
        (b"c", 10, 5, b"tie"),
    ]


# -- Redis reads ----------------------------------------------------------------------------
def test_redis_read_variants_agree_at_quick_size(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    if find_redis_server() is None:
        pytest.skip("redis-server is not installed")
    out = run_bench("redis_read.py", "--quick", "--data", str(tmp_path))
    assert "answers agree: floor, redis-py MGET, RedisOnlineStore.read" in out
    assert out.count("1.00x   floor: pre-packed MGET, raw socket + hiredis") == 2


def test_redis_read_check_catches_a_floor_reading_other_keys(
    clean_redis: RedisServer,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    """The floor's timed commands are checked against redis-py and the store's read: packed
    without the table prefix, they read nothing, and the check says so."""
    import redis
    import redis_read

    from skewless.config import RedisOnlineConfig
    from skewless.online.redis.store import RedisOnlineStore, table_prefix

    online = RedisOnlineStore(
        RedisOnlineConfig(connection_string=clean_redis.connection_string), tmp_path
    )
    online.write("t", [(b"k1", 10, None, b"[1]"), (b"k2", 11, 3, b"[2]")])
    raw = redis.Redis(host=clean_redis.host, port=clean_redis.port)
    floor = redis_read.RawMget(clean_redis.host, clean_redis.port)
    keys = [b"k1", b"k2", b"none"]
    full = [table_prefix("t") + k for k in keys]
    try:
        redis_read.check_answers(floor, raw, online, "t", [(keys, full, floor.pack(full))])
        with pytest.raises(Disagreement):
            redis_read.check_answers(floor, raw, online, "t", [(keys, full, floor.pack(keys))])
    finally:
        floor.close()
        raw.close()
        online.close()


# -- window aggregations, online ------------------------------------------------------------
def test_window_online_values_agree_at_quick_size() -> None:
    out = run_bench("windows_online.py", "--quick")
    assert "values agree: get_online_features, decode + evaluate, offline at " in out


def test_window_online_check_catches_a_wrong_value(tmp_path: Path) -> None:
    from datetime import timedelta

    import windows
    import windows_online

    windows.make_data(tmp_path, 2_000, 20, 1)
    txns = windows.view()
    end = windows.START + timedelta(days=90)
    users = [0, 1, 2, 3]
    names = [f.split(":")[1] for f in windows_online.FEATURES]
    from skewless._contracts import ViewRequest
    from skewless.config import DuckDBOfflineConfig
    from skewless.offline.duckdb.engine import DuckDBEngine

    entity = pa.table(
        {"user_id": users, "event_timestamp": pa.array([end] * 4, pa.timestamp("us", "UTC"))}
    )
    engine = DuckDBEngine(DuckDBOfflineConfig(), tmp_path)
    offline = engine.historical(entity, [ViewRequest(txns, names, names)]).to_arrow()
    engine.close()
    values = [[offline.column(n)[i].as_py() for n in names] for i in range(4)]
    online = [{n: [v] for n, v in zip(names, row, strict=True)} for row in values]
    windows_online.check_values(tmp_path, txns, users, end, online, values)
    wrong = [list(row) for row in values]
    wrong[2][1] += 1  # one count off by one
    with pytest.raises(Disagreement):
        windows_online.check_values(tmp_path, txns, users, end, online, wrong)


# -- batch inference ------------------------------------------------------------------------
def test_predict_batch_agrees_with_the_served_model_at_quick_size(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    pytest.importorskip("sklearn")
    out = run_bench("predict_batch.py", "--quick", "--data", str(tmp_path))
    assert "answers agree: predict_batch equals ServedModel.predict on the retrieval" in out
    assert "| predict_batch, file to file (end to end) |" in out
    assert re.search(r"end to end / \(retrieval \+ model\): [\d.]+x \(target 1\.5x", out), out


def test_predict_batch_check_catches_a_wrong_probability() -> None:
    import predict_batch

    out = pa.table(
        {
            "prediction": [0, 1],
            "probability_0": [0.75, 0.25],
            "probability_1": [0.25, 0.75],
        }
    )
    predict_batch.check(out, [0, 1], [[0.75, 0.25], [0.25, 0.75]])
    with pytest.raises(Disagreement):
        predict_batch.check(out, [0, 1], [[0.75, 0.25], [0.5, 0.5]])
    with pytest.raises(Disagreement):
        predict_batch.check(out, [1, 1], [[0.75, 0.25], [0.25, 0.75]])


# -- the prediction server ------------------------------------------------------------------
def test_predict_variants_agree_at_quick_size(tmp_path: Path) -> None:
    out = run_bench("predict.py", "--quick", "--seconds", "1", "--data", str(tmp_path))
    assert "answers agree: floor, skewless, skewless-batch1 (50 users" in out
    assert "| skewless /predict, --max-batch 1 | 64 |" in out
    assert re.search(r"skewless at 16 connections: [\d,]+% of the floor's requests/s", out), out
    assert "micro-batching at 64 connections: " in out


def test_predict_check_catches_another_prediction_or_probability() -> None:
    import predict

    floor = [(0, [0.75, 0.25]), (1, [0.125, 0.875])]
    predict.check_answers("floor", floor, "skewless", [(0, [0.75, 0.25]), (1, [0.125, 0.875])])
    predict.check_answers("floor", floor, "mlflow", [(0, None), (1, None)])
    with pytest.raises(Disagreement):
        predict.check_answers("floor", floor, "mlflow", [(0, None), (0, None)])
    with pytest.raises(Disagreement):
        predict.check_answers("floor", floor, "skewless", [(0, [0.75, 0.25]), (1, [0.25, 0.75])])


# -- drift report ---------------------------------------------------------------------------
def test_drift_report_agrees_with_its_floor_at_quick_size() -> None:
    out = run_bench("drift.py", "--quick", "--no-evidently")
    assert "answers agree: drift_report and the floor (14 drifted)" in out
    assert "injected drift not found: none" in out
    assert "| skewless drift_report (pandas frames) |" in out
    assert "answers agree: drift_report from the stored profile drifts the same columns" in out
    assert "| skewless drift_report (stored reference profile, current frame) |" in out


def test_drift_floor_check_catches_another_statistic() -> None:
    import drift
    import numpy as np
    import pandas as pd

    from skewless.monitoring import build_profile, drift_report

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(list("abc"), 3000)})
    cur = pd.DataFrame({"x": rng.normal(0.5, 1, 3000), "c": rng.choice(list("abc"), 3000)})
    report = drift_report(ref, cur)
    statistics = drift.floor(ref, cur, report)
    drift.check_floor(report, statistics)
    with pytest.raises(Disagreement):
        drift.check_floor(report, {**statistics, "x": statistics["x"] * (1 + 1e-6)})
    from_profile = drift_report(build_profile(ref), cur)
    drift.check_profile_run(report, from_profile)
    with pytest.raises(Disagreement):
        drift.check_profile_run(report, drift_report(build_profile(ref), ref))


# -- profiles -------------------------------------------------------------------------------
def test_profile_build_agrees_with_the_floor_at_quick_size(tmp_path: Path) -> None:
    out = run_bench("profile_build.py", "--quick", "--data", str(tmp_path))
    assert "answers agree: floor and skewless" in out
    assert re.search(r"\| skewless build_profile .* \| [\d,]+ \| [\d.]+x \|", out), out


def test_profile_check_catches_a_wrong_histogram() -> None:
    import importlib.util

    import numpy as np

    from skewless.monitoring.profile_build import build_profile

    # loaded by path, as the other bench modules are not packages
    spec = importlib.util.spec_from_file_location("bench_profile", BENCH / "profile_build.py")
    assert spec is not None and spec.loader is not None
    profile_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(profile_bench)

    table = pa.table({"n00": np.arange(100, dtype=np.float64)})
    edges = {"n00": [0.0, 50.0, 99.0]}
    exact = profile_bench.Exact(edges["n00"])
    exact.update(table.column(0).combine_chunks())
    profile_bench.check(build_profile(table, bins=edges), {"n00": exact})
    exact.bins[1] += 1
    with pytest.raises(Disagreement):
        profile_bench.check(build_profile(table, bins=edges), {"n00": exact})


def test_pipeline_runner_and_direct_calls_agree_at_quick_size() -> None:
    out = run_bench("pipeline_overhead.py", "--quick")
    assert "answers agree: the runner's last output and the direct calls'" in out
    assert "overhead per step" in out


def test_experiment_routing_variants_agree_at_quick_size(tmp_path: Path) -> None:
    out = run_bench("experiments_routing.py", "--quick", "--data", str(tmp_path))
    assert "answers agree: none, split, split-2, shadow (30 users)" in out
    assert re.search(r"Routing \(split\) costs -?[\d.]+% of the requests/s", out), out
    assert "| shadow | 1 |" in out


def test_compressed_versions_hold_their_tolerance_at_quick_size() -> None:
    pytest.importorskip("skl2onnx")
    out = run_bench("compression.py", "--quick")
    assert "all compressed versions within their stated tolerance" in out
    for row in ("| gbm-100 | onnx |", "| mlp | onnx-int8 |", "| quickstart-ordinal | onnx |"):
        assert row in out
    assert "refused: model 'churn' version 1 holds a HistGradientBoostingClassifier" in out


def test_the_compression_check_catches_a_miss() -> None:
    import compression

    from skewless.models.compress_report import Agreement, CompressionReport, VersionFigures

    before = VersionFigures(1, "original", 1.0, 1.0, {"f1": 0.8})
    after = VersionFigures(2, "onnx", 0.5, 0.1, {"f1": 0.8})
    fine = CompressionReport("m", "classifier", before, after, Agreement(10, 1.0, 1e-6), "d")
    compression.check("m", fine)
    off = CompressionReport("m", "classifier", before, after, Agreement(10, 0.99, 1e-6), "d")
    with pytest.raises(Disagreement, match="identical classes"):
        compression.check("m", off)
