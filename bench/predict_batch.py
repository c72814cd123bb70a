"""Batch inference throughput: entity rows scored per second by ``predict_batch``.

The data: USERS users x DAYS days of feature history (the rows of ``bench/_data.py``), one
view of five numeric features; ENTITIES entity rows (1M by default) of random users at random
times, in a Parquet file. A HistGradientBoostingClassifier of ``--trees`` trees (100) is
trained on a small point-in-time sample of them and logged with ``skewless.models.log_model``
into a temporary MLflow SQLite database.

Timed, each best of ``--repeat``, on the same entity rows:

- ``predict_batch`` end to end: entity file in, Parquet file out (model loading included),
  in batches of ``--batch-rows``;
- floor ``retrieval alone``: ``get_historical_features(...).to_arrow()`` over all rows at
  once;
- floor ``model alone``: ``ServedModel.predict`` (predictions and probabilities) over the
  retrieved features, already in pandas.

After every run, the output of ``predict_batch`` is checked against ``ServedModel.predict``
on the retrieval's features: predictions and probabilities equal, row for row; a disagreement
exits non-zero. Target: end to end within 1.5x of retrieval + model.

Run: ``.venv/bin/python bench/predict_batch.py`` (``--users 100000 --days 10 --entities
1000000 --repeat 3``); ``--quick`` for a tiny run that checks the answers agree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _agree import Disagreement, require_equal
from _data import DAY_US, START
from _results import conditions, replace_section
from materialize import DATA, ensure_source, open_repo

from skewless import FeatureStore
from skewless.models import log_model, tracking_for, training_data
from skewless.retrieval import get_historical_features
from skewless.serving import load_served_model, parse_model_ref
from skewless.serving.batch import BatchPredictionReport, batch_context, predict_batch

SECTION = "## Batch inference (`bench/predict_batch.py`)"
FEATURES = [
    "user_stats:total_purchases",
    "user_stats:avg_purchase_amount",
    "user_stats:days_since_last_login",
    "user_stats:session_minutes",
    "user_stats:churn_score",
]
TARGET_VS_FLOORS = 1.5
TRAIN_ROWS = 5_000


def entity_table(users: int, days: int, rows: int, seed: int = 7) -> pa.Table:
    """``rows`` random (user, time) pairs over the history; some users have no rows yet."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(START.replace(tzinfo=None), "us")
    times = start + rng.integers(0, days * DAY_US, rows).astype("timedelta64[us]")
    return pa.table(
        {
            "user_id": (rng.integers(0, users, rows) + 1001).astype(np.int64),
            "event_timestamp": pa.array(times, pa.timestamp("us", "UTC")),
        }
    )


def train(store: FeatureStore, users: int, days: int, trees: int) -> str:
    """Fit and log the classifier; returns ``churn/VERSION``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    sample = entity_table(users, days, TRAIN_ROWS, seed=1).to_pandas()
    rng = np.random.default_rng(2)
    job = store.get_historical_features(sample, FEATURES)
    frame = job.to_df()
    score = frame["churn_score"].fillna(0.5).to_numpy()
    sample["churned"] = (score + rng.normal(scale=0.2, size=len(sample)) > 0.6).astype("int64")
    store.get_historical_features(sample, FEATURES).save_dataset("churn_train", overwrite=True)
    x, y = training_data("churn_train", store)
    model = HistGradientBoostingClassifier(
        max_iter=trees, early_stopping=False, random_state=0
    ).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = log_model(model, "churn", dataset="churn_train", store=store)
    return f"churn/{info.version}"


def best(seconds: list[float]) -> float:
    return min(seconds)


def check(out: pa.Table, predictions: list[object], probabilities: list[list[float]]) -> None:
    require_equal(
        "ServedModel.predict", predictions, "predict_batch", out.column("prediction").to_pylist()
    )
    got = np.column_stack([out.column(f"probability_{c}").to_numpy() for c in (0, 1)])
    require_equal("ServedModel.predict probabilities", probabilities, "predict_batch", got.tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA, help="where generated data goes")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="tiny run, no write")
    args = parser.parse_args()
    if args.quick:
        args.users, args.days, args.entities, args.trees = 2_000, 3, 5_000, 10
        args.batch_rows, args.repeat, args.no_write = 1_000, 1, True

    source = ensure_source(args.users, args.days, data=args.data)
    with tempfile.TemporaryDirectory(prefix="skewless-bench-batch-") as tmp:
        work = Path(tmp)
        store = open_repo(work / "repo", source, ttl=timedelta(days=args.days))
        model = train(store, args.users, args.days, args.trees)
        entities = entity_table(args.users, args.days, args.entities)
        entity_file = work / "entities.parquet"
        pq.write_table(entities, entity_file, row_group_size=args.batch_rows)
        out_file = work / "scores.parquet"
        context = batch_context(store)
        served = load_served_model(
            tracking_for(store.config),
            parse_model_ref(model),
            dict(store.registry.records()[1]),  # type: ignore[arg-type]
            store.registry.history,
        )
        runs: dict[str, list[float]] = {"end to end": [], "retrieval": [], "model": []}
        reports: list[BatchPredictionReport] = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            features = get_historical_features(
                context.engine, context.snapshot, entities, FEATURES
            ).to_arrow()
            runs["retrieval"].append(time.perf_counter() - began)
            frame = features.select([f.split(":")[1] for f in FEATURES]).to_pandas()
            began = time.perf_counter()
            predictions, probabilities = served.predict(frame)
            runs["model"].append(time.perf_counter() - began)
            began = time.perf_counter()
            report, _ = predict_batch(
                context, model, entity_file, out_file, batch_rows=args.batch_rows
            )
            runs["end to end"].append(time.perf_counter() - began)
            reports.append(report)
            assert probabilities is not None
            check(pq.read_table(out_file), predictions, probabilities)
        store.close()
    if reports[-1].rows != args.entities:
        raise Disagreement(f"bench: predict_batch scored {reports[-1].rows:,} rows")
    print_and_write(args, runs, reports, " ".join(sys.argv[1:]))


def print_and_write(
    args: argparse.Namespace, runs: dict[str, list[float]], reports: list, given: str
) -> None:
    rows = args.entities
    e2e, retrieval, model = (best(runs[k]) for k in ("end to end", "retrieval", "model"))
    floors = retrieval + model
    ratio = e2e / floors
    inside = min(reports, key=lambda r: r.seconds)
    met = "met" if ratio <= TARGET_VS_FLOORS else "not met"
    header = (
        f"predict_batch over {rows:,} entity rows ({args.users:,} users x {args.days} days of "
        f"history, 5 features), HistGradientBoostingClassifier of {args.trees} trees, "
        f"batches of {args.batch_rows:,} rows, best of {args.repeat}"
    )
    table = [
        "| variant | best time | median | rows/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, label in (
        ("end to end", "predict_batch, file to file (end to end)"),
        ("retrieval", "floor: get_historical_features(...).to_arrow(), all rows at once"),
        ("model", "floor: ServedModel.predict on the retrieved features"),
    ):
        seconds = runs[name]
        table.append(
            f"| {label} | {best(seconds):.3f} s | {statistics.median(seconds):.3f} s | "
            f"{rows / best(seconds):,.0f} |"
        )
    verdict = (
        f"end to end / (retrieval + model): {ratio:.2f}x (target {TARGET_VS_FLOORS}x: {met}); "
        f"inside predict_batch: retrieval {inside.retrieval_seconds:.3f} s, model "
        f"{inside.model_seconds:.3f} s over {inside.batches} batches"
    )
    print(header)
    print("answers agree: predict_batch equals ServedModel.predict on the retrieval, row by row")
    print("\n".join(table))
    print(verdict)
    print(f"Python {sys.version.split()[0]}")
    if args.no_write:
        return
    command = ".venv/bin/python bench/predict_batch.py" + (f" {given}" if given else "")
    replace_section(
        SECTION,
        [
            SECTION,
            "",
            f"Command: `{command}` ({conditions()}).",
            "",
            header + ". The floors are measured in the same run on the same rows; after "
            "every run, predict_batch's predictions and probabilities were checked equal to "
            "ServedModel.predict on the retrieval's features. The end-to-end time includes "
            "loading the model from MLflow, reading the entity file and writing the output; "
            "each of its batches runs one retrieval, which scans the view's whole source, "
            "so its retrieval time exceeds the one-call floor.",
            "",
            *table,
            "",
            f"- {verdict}",
            "",
        ],
    )


if __name__ == "__main__":
    main()
