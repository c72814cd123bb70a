"""Experiments end to end on real server processes (docs/experiments.md): a simulated population
whose conversion rate depends on the arm that answered it sends requests and feedback; the
analysis finds the true winner of a fixed split, a Thompson-sampling bandit moves traffic to
it, and a canary whose challenger raises rolls back without one failed request."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from serving.experiment_models import ArmVersions, log_arm_versions
from serving.predict_repo import N_USERS, ServingRepo
from serving.predict_server import PredictionServerProcess, run_cli, wait_for
from skewless.experiments.records import ExperimentStore

RATES = {"control": 0.10, "challenger": 0.22}


@pytest.fixture(scope="module")
def versions(serving: ServingRepo) -> ArmVersions:
    return log_arm_versions(serving.store, serving.versions[0])


def _file(tmp_path: Path, name: str, arms: list[dict[str, Any]], **more: Any) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "model": "churn", "arms": arms, **more}))
    return str(path)


class Population:
    """Users who convert at the rate of the arm that answered them (seeded)."""

    def __init__(self, url: str, rates: dict[str, float], seed: int = 0) -> None:
        self.url = url
        self.rates = rates
        self.rng = np.random.default_rng(seed)
        self.lock = threading.Lock()
        self.arms: list[str] = []
        self.failures: list[str] = []

    def visit(self, client: httpx.Client, user: int) -> None:
        answer = client.post(f"{self.url}/predict", json={"entities": {"user_id": [user]}})
        if answer.status_code != 200:
            with self.lock:
                self.failures.append(f"{answer.status_code} {answer.text}")
            return
        body = answer.json()
        arm = body.get("arm", "control")
        with self.lock:
            self.arms.append(arm)
            converted = bool(self.rng.random() < self.rates.get(arm, 0.0))
        sent = client.post(
            f"{self.url}/feedback",
            json={"feedback": [{"request_id": body["request_id"], "label": converted}]},
        )
        assert sent.status_code in (200, 202), sent.text

    def run(self, visits: int, threads: int = 8, seed: int = 1) -> None:
        users = np.random.default_rng(seed).integers(0, N_USERS, size=visits)
        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda u: self.visit(client, int(u)), users))


def _analysis(repo: Path, name: str, out: Path) -> dict[str, Any]:
    done = run_cli(repo, "experiments", "analyze", name, "--json", str(out))
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_a_fixed_split_finds_the_true_winner(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    experiments = ExperimentStore(serving.store.registry)
    path = _file(
        tmp_path,
        "e2e-split",
        [
            {"name": "control", "model": "churn@production", "weight": 0.5},
            {"name": "challenger", "model": f"churn/{versions.other}", "weight": 0.5},
        ],
        analysis="fixed",
    )
    try:
        with PredictionServerProcess(serving.root, "churn", "--experiment", path) as server:
            population = Population(server.url, RATES)
            population.run(3000)
        assert population.failures == []
        result = _analysis(serving.root, "e2e-split", tmp_path / "split.json")
        arms = {a["name"]: a for a in result["arms"]}
        assert arms["control"]["n"] + arms["challenger"]["n"] == 3000
        assert result["decision"] == "promote challenger" and result["winner"] == "challenger"
        assert arms["challenger"]["rate"] > arms["control"]["rate"]
        assert arms["challenger"]["p_value"] < 0.05 and arms["challenger"]["ci"][0] > 0
    finally:
        if experiments.running_for("churn") is not None:
            experiments.stop("e2e-split", "test over")


def test_a_bandit_moves_traffic_to_the_better_arm(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    experiments = ExperimentStore(serving.store.registry)
    path = _file(
        tmp_path,
        "e2e-bandit",
        [
            {"name": "control", "model": "churn@production"},
            {"name": "challenger", "model": f"churn/{versions.other}"},
        ],
        policy="thompson",
    )
    rates = {"control": 0.05, "challenger": 0.35}
    try:
        with PredictionServerProcess(serving.root, "churn", "--experiment", path) as server:
            population = Population(server.url, rates)
            population.run(1500, threads=4)
            model = httpx.get(server.url + "/model").json()
        assert population.failures == []
        late = population.arms[-500:]
        assert late.count("challenger") / len(late) > 0.7, late.count("challenger")
        early = population.arms[:100]
        assert early.count("challenger") / len(early) < late.count("challenger") / len(late)
        allocation = model["experiment"]["bandit"]["allocation"]
        assert allocation["challenger"] > 0.9, model["experiment"]
        result = _analysis(serving.root, "e2e-bandit", tmp_path / "bandit.json")
        assert result["method"] == "bayesian" and result["winner"] == "challenger"
    finally:
        if experiments.running_for("churn") is not None:
            experiments.stop("e2e-bandit", "test over")


def test_a_canary_with_a_raising_challenger_rolls_back_without_a_failed_request(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    experiments = ExperimentStore(serving.store.registry)
    path = _file(
        tmp_path,
        "e2e-canary",
        [
            {"name": "control", "model": "churn@production"},
            {"name": "challenger", "model": f"churn/{versions.raising}"},
        ],
        canary=["30% for 3s", "100%"],
        guard={"max_error_rate": 0.05, "min_requests": 10},
    )
    try:
        with PredictionServerProcess(serving.root, "churn", "--experiment", path) as server:
            population = Population(server.url, RATES)
            started = time.monotonic()
            while experiments.get("e2e-canary").status == "running":
                assert time.monotonic() - started < 60, "the canary did not roll back"
                population.run(200, threads=8, seed=int(time.monotonic() * 1000) % 10_000)
            after = Population(server.url, RATES)

            def only_control() -> bool:
                after.arms.clear()
                after.run(50, threads=4)
                return set(after.arms) <= {"control"}

            wait_for(only_control, timeout=10)
        assert population.failures == [] and after.failures == []
        record = experiments.get("e2e-canary")
        assert record.status == "stopped" and record.winner == "control"
        assert "error rate" in (record.stop_reason or "")
        assert record.weights == {"control": 1.0, "challenger": 0.0}
        assert [d["action"] for d in record.decisions] == ["rollback"]
    finally:
        if experiments.running_for("churn") is not None:
            experiments.stop("e2e-canary", "test over")
