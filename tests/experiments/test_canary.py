"""Canary rollouts read their guards from a real prediction log (docs/experiments.md, "Canary
rollouts"): a healthy challenger climbs the plan; a slow, failing, drifting or worse-converting
one is rolled back with the reason recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from skewless.config import RepoConfig
from skewless.errors import PredictionLogError
from skewless.experiments.canary import CanaryController
from skewless.experiments.records import ExperimentStore
from skewless.experiments.spec import load_experiment
from skewless.registry import Registry
from skewless.serving.feedback import labelled_predictions, record_feedback
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.logs_read import read_prediction_logs
from skewless.serving.records import Prediction

SPEC = {
    "name": "canary-1",
    "model": "churn",
    "arms": [{"name": "champion", "model": "churn/1"}, {"name": "challenger", "model": "churn/2"}],
    "canary": ["10% for 5m", "50% for 5m", "100%"],
    "guard": {"max_error_rate": 0.05, "max_p99_ms": 50, "max_prediction_drift": 0.2,
              "min_requests": 50},
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Rollout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = Clock()
        self.experiments = ExperimentStore(
            Registry(RepoConfig(project="p", repo_path=root)), self.clock
        )
        self.experiments.start(load_experiment(SPEC))
        self.rng = np.random.default_rng(0)

        def read(start: datetime, end: datetime) -> tuple[pa.Table, pa.Table | None]:
            try:
                rows = read_prediction_logs(root, "churn", start, end)
                labelled = labelled_predictions(root, "churn", start, end)
            except PredictionLogError:  # no log yet
                return pa.table({}), None
            return rows, labelled

        self.controller = CanaryController(self.experiments, "canary-1", read, self.clock)

    def traffic(
        self, n: int, *, slow: bool = False, fail: float = 0.0, skew: bool = False,
        conversion: tuple[float, float] | None = None,
    ) -> None:  # fmt: skip
        """``n`` requests over the next minute, split by the weights in force."""
        share = self.experiments.get("canary-1").weights["challenger"]
        feedback = []
        with PredictionLogWriter(self.root, "churn") as log:
            for i in range(n):
                when = self.clock.now + timedelta(seconds=60 * i / n)
                challenger = self.rng.random() < share
                failed = challenger and self.rng.random() < fail
                p = float(self.rng.random())
                if challenger and skew:
                    p = 0.9 + 0.1 * p
                arm = "champion" if (not challenger or failed) else "challenger"
                request = uuid.uuid4().hex
                log.submit([Prediction(
                    request, when, "churn", 2 if arm == "challenger" else 1,
                    {"user_id": [i]}, {"x": [p]}, [int(p > 0.5)], [[1 - p, p]], [],
                    120.0 if (challenger and slow and not failed) else 3.0,
                    arm=arm, experiment="canary-1",
                    assignment="fallback" if failed else "sticky",
                )])  # fmt: skip
                if conversion is not None:
                    rate = conversion[1] if arm == "challenger" else conversion[0]
                    feedback.append({"request_id": request, "label": int(self.rng.random() < rate)})
        if feedback:
            record_feedback(self.root, "churn", feedback)
        self.clock.now += timedelta(minutes=1)


def test_a_healthy_challenger_climbs_the_plan(tmp_path: Path) -> None:
    r = Rollout(tmp_path)
    assert r.controller.tick().action == "wait"  # no requests yet
    r.traffic(1000)
    first = r.controller.tick()
    assert first.action == "hold" and first.share == pytest.approx(0.1)
    assert first.reading is not None and first.reading.requests > 50
    r.clock.now += timedelta(minutes=5)
    advanced = r.controller.tick()
    assert advanced.action == "advance" and advanced.share == pytest.approx(0.5)
    assert r.experiments.get("canary-1").weights == {"champion": 0.5, "challenger": 0.5}
    r.traffic(400)
    assert r.controller.tick().action == "hold"
    r.clock.now += timedelta(minutes=5)
    assert r.controller.tick().share == pytest.approx(1.0)
    r.traffic(200)
    done = r.controller.tick()
    assert done.action == "complete" and done.share == 1.0
    record = r.experiments.get("canary-1")
    assert [d["action"] for d in record.decisions] == ["canary-step", "canary-step"]
    assert record.status == "running"


@pytest.mark.parametrize(
    ("traffic", "says"),
    [
        ({"slow": True}, "p99 latency 120.0 ms above 50 ms"),
        ({"fail": 0.3}, "error rate"),
        ({"skew": True}, "prediction drift"),
        ({"conversion": (0.3, 0.1)}, "conversion rate"),
    ],
)
def test_a_broken_challenger_is_rolled_back(
    tmp_path: Path, traffic: dict[str, object], says: str
) -> None:
    r = Rollout(tmp_path)
    r.traffic(3000, **traffic)  # type: ignore[arg-type]
    decision = r.controller.tick()
    assert decision.action == "rollback", decision
    assert says in decision.reason
    record = r.experiments.get("canary-1")
    assert record.status == "stopped" and record.winner == "champion"
    assert record.weights == {"champion": 1.0, "challenger": 0.0}
    assert record.decisions[-1]["action"] == "rollback" and says in record.stop_reason
    assert r.controller.tick().action == "stopped"
