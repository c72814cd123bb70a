"""The automatic loop on a real repository, real MLflow and real prediction logs: a drift
trigger retrains and promotes, a broken one records its error and runs nothing, the cooldown
holds back a second run, the watch window rolls a breaching version back, and a challenger
reaches production only when it wins its experiment."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from experiments.experiment_logs import Traffic, write_traffic
from monitoring.monitor_repo import log_traffic, served_model
from serving.predict_repo import ServingRepo, build_serving_repo

from pipelines.test_triggers import FakeClock
from skewless import FeatureStore
from skewless.experiments.records import ExperimentStore
from skewless.models import get_model_version, list_model_versions
from skewless.models.tracking import tracking_for
from skewless.monitoring.monitor import MonitorContext, monitor_model
from skewless.pipelines import RunStore
from skewless.pipelines.rollouts import OUTCOME_TAG, RolloutStore
from skewless.pipelines.triggers import TriggerStore, schedule
from skewless.pipelines.worker import Evaluation, Worker
from skewless.repo import load_repo_objects
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.records import Prediction

RETRAIN_PY = """\
from sklearn.ensemble import HistGradientBoostingClassifier

from skewless import FileSource
from skewless.models import Thresholds
from skewless.pipelines import retraining_pipeline


def train(X, y, max_iter: int = 15):
    return HistGradientBoostingClassifier(max_iter=max_iter, random_state=0).fit(X, y)


churn_retraining = retraining_pipeline(
    model="churn",
    feature_service="scoring",
    label_source=FileSource(path="data/labels.parquet", timestamp_field="event_timestamp"),
    label="churned",
    train=train,
    gate=Thresholds(min_f1=0.5, max_regression=0.2),
    rollout="promote",
    watch="1d",
    watch_guards={"max_p99_ms": 1.0},
)
"""


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServingRepo, FakeClock]]:
    from mlflow import MlflowClient

    template = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
    root = tmp_path_factory.mktemp("loop") / "repo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = build_serving_repo(root, template)
    labels = repo.store.get_dataset("churn_train").to_arrow()
    pq.write_table(labels.select(["user_id", "event_timestamp", "churned"]),
                   root / "data" / "labels.parquet")  # fmt: skip
    (root / "retrain.py").write_text(RETRAIN_PY)
    repo.store.apply(load_repo_objects(root), partial=False)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    yield repo, clock
    repo.store.close()


def _worker(store: FeatureStore, clock: FakeClock) -> Worker:
    return Worker(store, clock=clock, sleep=clock.advance, tracking=False)


def _tick(worker: Worker) -> list[Evaluation]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return worker.tick()


def _production(store: FeatureStore) -> int:
    return get_model_version("churn", "production", store).version


def _log_after(store: FeatureStore, version: int, start: datetime, rows: int = 160) -> None:
    """Answers of ``version`` from ``start`` on, logged as the prediction server logs them."""
    model = served_model(store, version)
    sample = pq.read_table(store.datasets.get("churn_train").path).to_pandas().head(rows)
    features = list(model.lineage.feature_columns)
    with PredictionLogWriter(Path(store.repo_path), "churn") as log:
        for first in range(0, rows, 8):
            part = sample.iloc[first : first + 8].reset_index(drop=True)
            predictions, probabilities = model.predict(part[features])
            when = start + timedelta(seconds=first)
            log.submit([Prediction(
                uuid.uuid4().hex, when, "churn", version, {"user_id": part["user_id"].tolist()},
                {c: part[c].tolist() for c in features}, predictions, probabilities, [], 2.5,
            )])  # fmt: skip


def test_drift_retrains_then_the_watch_rolls_a_breaching_version_back(
    loop: tuple[ServingRepo, FakeClock],
) -> None:
    repo, clock = loop
    store = FeatureStore(repo_path=repo.root, clock=clock)
    log_traffic(store, days=3, rows_per_day=1600, shift_x1=0.6)
    # scheduled first, so judged first: a later tick would find the pipeline cooling down
    broken = schedule(store.registry, "churn_retraining", clock() - timedelta(minutes=1),
                      on_drift="churm", window=timedelta(days=4))  # fmt: skip
    drift = schedule(store.registry, "churn_retraining", clock(), on_drift="churn",
                     window=timedelta(days=4))  # fmt: skip
    seen = _tick(_worker(store, clock))
    by_trigger = {e.trigger: e for e in seen}
    assert by_trigger[broken.id].action == "error"
    assert by_trigger[drift.id].action == "fired", by_trigger[drift.id].message
    triggers = TriggerStore(store.registry)
    failed = triggers.find("churn_retraining", broken.id)
    assert failed is not None and failed.last_run is None
    assert "monitoring churm failed, so nothing ran" in (failed.last_error or "")
    assert "no registered model 'churm'" in (failed.last_error or "")
    (run,) = RunStore(store.registry).list("churn_retraining")
    assert run.status == "succeeded", run.error
    assert run.trigger is not None and run.trigger.kind == "drift"
    assert run.trigger.trigger_id == drift.id
    assert run.trigger.reason.startswith(
        "drift of churn v1 against churn_train (--fail-on dataset)"
    )
    assert "x1" in run.trigger.reason
    new = int(run.step("register").output_preview)
    assert _production(store) == new == 2
    promoted = get_model_version("churn", new, store)
    assert promoted.tags[OUTCOME_TAG] == "promoted: the gate passed"
    assert promoted.lineage is not None
    assert promoted.lineage.dataset.startswith(f"churn-{run.run_id}") and (
        promoted.lineage.dataset.endswith("_train")
    )
    # after the promotion, monitoring compares the new version with its own training set
    _log_after(store, new, clock() + timedelta(minutes=10))
    later = clock() + timedelta(hours=1)
    context = MonitorContext(tracking_for(store.config), store.datasets, repo.root, later)
    watched = monitor_model(context, "churn", window=timedelta(hours=2), predictions=False)
    assert (watched.version, watched.reference) == (new, promoted.lineage.dataset)
    assert watched.rows == 160
    # two hours on: the drift trigger is cooling down, and the watch finds p99 over its guard
    clock.advance(2 * 3600)
    seen = _tick(_worker(store, clock))
    actions = {e.trigger: e for e in seen}
    assert actions[drift.id].action == "cooldown"
    assert "is cooling down: run " + run.run_id in actions[drift.id].message
    assert actions[run.run_id].action == "rollout"
    assert _production(store) == 1
    assert len(RunStore(store.registry).list("churn_retraining")) == 1
    reason = "rolled back to v1: p99 latency 2.5 ms over 160 answers above 1 ms within the watch"
    assert (
        get_model_version("churn", new, store)
        .tags[OUTCOME_TAG]
        .startswith("rolled-back: " + reason)
    )
    decisions = RunStore(store.registry).get(run.run_id).decisions
    assert [d["action"] for d in decisions] == ["rollback"]
    assert decisions[0]["reason"].startswith(reason) and decisions[0]["previous"] == 1
    rollout = RolloutStore(store.registry).find(run.run_id)
    assert rollout is not None and (rollout.phase, rollout.outcome) == ("done", "rolled-back")
    triggers.remove("churn_retraining")
    store.close()


def _experiment_run(store: FeatureStore) -> tuple[str, int, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = store.run_pipeline(
            "churn_retraining", progress=False, tracking=False,
            params={"rollout_mode": "experiment", "experiment_max": "1d"},
        )  # fmt: skip
    assert run.status == "succeeded", run.error
    version = int(run.step("register").output_preview)
    return run.run_id, version, f"churn-{run.run_id}"


def test_a_challenger_reaches_production_only_when_it_wins(
    loop: tuple[ServingRepo, FakeClock],
) -> None:
    repo, clock = loop
    store = FeatureStore(repo_path=repo.root, clock=clock)
    champion = _production(store)
    experiments = ExperimentStore(store.registry, clock)
    # a challenger no better than the champion: kept out once the experiment runs too long
    run_id, version, name = _experiment_run(store)
    held = get_model_version("churn", version, store)
    assert held.aliases == () and f"skewless.hold.challenger.pipeline-{run_id}" in held.tags
    write_traffic(repo.root, name, [Traffic("control", 300, 0.3, version=champion, exact=True),
                                    Traffic("challenger", 300, 0.3, version=version, exact=True)],
                  clock(), timedelta(hours=1))  # fmt: skip
    clock.advance(2 * 3600)
    assert _tick(_worker(store, clock)) == []  # not significant yet: the experiment goes on
    clock.advance(86400)
    (kept,) = _tick(_worker(store, clock))
    assert kept.action == "rollout" and f"churn v{version} kept: no significant win" in kept.message
    tags = get_model_version("churn", version, store).tags
    assert tags[OUTCOME_TAG].startswith(f"kept: no significant win in experiment {name} within")
    assert not any(k.startswith("skewless.hold.challenger") for k in tags)
    assert experiments.get(name).status == "stopped" and experiments.get(name).winner == "control"
    assert _production(store) == champion
    assert [d["action"] for d in RunStore(store.registry).get(run_id).decisions] == [
        "challenger-kept"
    ]
    # a challenger that converts better: promoted through the gate, then watched
    run_id, version, name = _experiment_run(store)
    write_traffic(repo.root, name, [Traffic("control", 3000, 0.2, version=champion, exact=True),
                                    Traffic("challenger", 3000, 0.4, version=version, exact=True)],
                  clock(), timedelta(hours=1), seed=1)  # fmt: skip
    clock.advance(2 * 3600)
    (won,) = _tick(_worker(store, clock))
    assert won.action == "rollout", won.message
    assert f"churn v{version} promoted (won experiment {name} significantly" in won.message
    assert _production(store) == version
    record = experiments.get(name)
    assert record.status == "stopped" and record.winner == "challenger"
    assert [d["action"] for d in record.decisions][-1] == "promote"
    rollout = RolloutStore(store.registry).find(run_id)
    assert rollout is not None and rollout.phase == "watching" and rollout.previous == champion
    assert [d["action"] for d in RunStore(store.registry).get(run_id).decisions] == ["promoted"]
    # the watch window passes without a breach (no answers of it were logged): it stays
    clock.advance(86400 + 60)
    (settled,) = _tick(_worker(store, clock))
    assert f"churn v{version} promoted: guards held for the 1d watch" in (settled.message)
    assert _production(store) == version
    assert {v.version for v in list_model_versions("churn", store)} >= {champion, version}
    store.close()
