"""``skewless models serve NAME --experiment FILE|NAME`` as a real process: stickiness across a
restart, a weight change picked up while serving, a slow shadow that adds no latency, a
challenger that raises under concurrent traffic, and refusals at start."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serving.experiment_models import ArmVersions, log_arm_versions
from serving.predict_repo import N_USERS, ServingRepo
from serving.predict_server import PredictionServerProcess, run_cli, wait_for
from skewless.experiments.records import ExperimentStore
from skewless.serving import read_prediction_logs

USERS = {"user_id": list(range(N_USERS))}


@pytest.fixture(scope="module")
def versions(serving: ServingRepo) -> ArmVersions:
    return log_arm_versions(serving.store, serving.versions[0])


def _file(tmp_path: Path, name: str, arms: list[dict[str, Any]], **more: Any) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "model": "churn", "arms": arms, **more}))
    return str(path)


def _arms(server: PredictionServerProcess, headers: dict[str, str] | None = None) -> list[str]:
    answer = httpx.post(server.url + "/predict", json={"entities": USERS}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["arms"] if "arms" in body else [body.get("arm")] * N_USERS


def test_arms_stay_sticky_across_a_restart_and_new_weights_move_users_only_one_way(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    experiments = ExperimentStore(serving.store.registry)
    path = _file(
        tmp_path,
        "sticky",
        [
            {"name": "control", "model": "churn@production", "weight": 0.8},
            {"name": "challenger", "model": f"churn/{versions.other}", "weight": 0.2},
        ],
    )
    try:
        with PredictionServerProcess(serving.root, "churn", "--experiment", path) as server:
            first = _arms(server)
            one_by_one = [
                httpx.post(server.url + "/predict", json={"entities": {"user_id": [u]}}).json()[
                    "arm"
                ]
                for u in range(30)
            ]
        assert one_by_one == first[:30]
        assert experiments.get("sticky").status == "running"
        with PredictionServerProcess(serving.root, "churn", "--experiment", "sticky") as server:
            assert _arms(server) == first
            experiments.set_weights("sticky", {"control": 0.5, "challenger": 0.5}, "step")
            changed = time.monotonic()
            after: list[str] = []

            def moved() -> bool:
                after[:] = _arms(server)
                return after != first

            wait_for(moved, timeout=3.0)
            assert time.monotonic() - changed < 2.5
            moves = Counter((b, a) for b, a in zip(first, after, strict=True) if b != a)
            assert set(moves) == {("control", "challenger")}
            experiments.stop("sticky", "over")
            wait_for(lambda: _arms(server) == [None] * N_USERS, timeout=3.0)
    finally:
        if experiments.get("sticky").status == "running":
            experiments.stop("sticky", "test over")


def _latencies(server: PredictionServerProcess, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=server.url) as client:
        for i in range(n):
            started = time.perf_counter()
            answer = client.post("/predict", json={"entities": {"user_id": [i % N_USERS]}})
            out.append(time.perf_counter() - started)
            assert answer.status_code == 200 and answer.json()["arm"] == "control"
    return sorted(out)


def test_a_slow_shadow_adds_no_latency_to_the_answers(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    experiments = ExperimentStore(serving.store.registry)
    control = {"name": "control", "model": "churn@production", "weight": 1.0}
    plain = _file(tmp_path, "unshadowed", [control])
    shadowed = _file(
        tmp_path,
        "shadowed",
        [control, {"name": "slow", "model": f"churn/{versions.slow}", "shadow": True}],
    )
    n = 60
    try:
        with PredictionServerProcess(serving.root, "churn", "--experiment", plain) as server:
            _latencies(server, 10)
            without = _latencies(server, n)
        experiments.stop("unshadowed", "measured")
        with PredictionServerProcess(serving.root, "churn", "--experiment", shadowed) as server:
            _latencies(server, 10)
            with_shadow = _latencies(server, n)
            time.sleep(1.5)  # a few shadow scorings (0.3 s each) reach the log
            text = httpx.get(server.url + "/metrics").text
    finally:
        for name in ("unshadowed", "shadowed"):
            if experiments.version(name) and experiments.get(name).status == "running":
                experiments.stop(name, "test over")
    p50 = statistics.median(without), statistics.median(with_shadow)
    p99 = without[int(0.99 * n) - 1], with_shadow[int(0.99 * n) - 1]
    assert p50[1] < p50[0] + 0.02, p50
    assert p99[1] < p99[0] + 0.1, p99
    assert p99[1] < 0.3  # never the shadow's 0.3 s
    logs = read_prediction_logs(serving.root, "churn").to_pandas()
    shadow_rows = logs[(logs["experiment"] == "shadowed") & (logs["assignment"] == "shadow")]
    assert len(shadow_rows) >= 1 and set(shadow_rows["arm"]) == {"slow"}
    assert 'skewless_experiment_requests_total{experiment="shadowed",arm="slow"' in text


def test_a_raising_challenger_fails_no_request_under_concurrent_traffic(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    experiments = ExperimentStore(serving.store.registry)
    path = _file(
        tmp_path,
        "raising",
        [
            {"name": "control", "model": "churn@production", "weight": 0.5},
            {"name": "raising", "model": f"churn/{versions.raising}", "weight": 0.5},
        ],
    )
    try:
        with PredictionServerProcess(serving.root, "churn", "--experiment", path) as server:

            def ask(user: int) -> int:
                body = {"entities": {"user_id": [user, (user + 1) % N_USERS]}}
                return httpx.post(server.url + "/predict", json=body, timeout=30).status_code

            with ThreadPoolExecutor(8) as pool:
                statuses = Counter(pool.map(ask, range(N_USERS)))
            text = httpx.get(server.url + "/metrics").text
            output = server.output()
    finally:
        experiments.stop("raising", "test over")
    assert statuses == Counter({200: N_USERS})
    fallbacks = [
        line
        for line in text.splitlines()
        if line.startswith('skewless_experiment_fallbacks_total{experiment="raising"')
    ]
    assert fallbacks and float(fallbacks[0].split()[-1]) > 0
    assert output.count("arm 'raising' of experiment 'raising' failed") == 1


@pytest.mark.parametrize(
    ("arms", "more", "words"),
    [
        (
            [
                {"name": "control", "model": "churn@production", "weight": 0.8},
                {"name": "b", "model": "churn/1", "weight": 0.3},
            ],
            {},
            "must sum to 1",
        ),
        (
            [
                {"name": "control", "model": "churn@production", "weight": 0.5},
                {"name": "next", "model": "churn/42", "weight": 0.5},
            ],
            {},
            "arm 'next' of experiment 'bad' (churn/42) cannot be served",
        ),
        (
            [{"name": "control", "model": "fraud@production", "weight": 1}],
            {"model": "fraud"},
            "splits model 'fraud' but this server serves 'churn'",
        ),
    ],
)
def test_the_cli_refuses_an_experiment_it_cannot_route_in_one_line(
    serving: ServingRepo,
    versions: ArmVersions,
    tmp_path: Path,
    arms: list[dict[str, Any]],
    more: dict[str, Any],
    words: str,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "model": "churn", "arms": arms, **more}))
    done = run_cli(serving.root, "models", "serve", "churn", "--experiment", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    unknown = run_cli(serving.root, "models", "serve", "churn", "--experiment", "no-such")
    assert unknown.returncode == 1 and "no experiment named 'no-such'" in unknown.stderr
