"""Routing between model versions in the prediction server's application (in-process, real
MLflow and a real registry): sticky split, weight changes, the header override, shadows,
fallback, bandits, a stopped experiment, the metrics and the errors."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from scipy.stats import chisquare
from starlette.testclient import TestClient

from serving.experiment_models import ArmVersions, log_arm_versions
from serving.predict_repo import N_USERS, ServingRepo, expected
from serving.predict_server import wait_for
from skewless.errors import ExperimentInputError, UnknownModelError
from skewless.experiments.records import ExperimentStore
from skewless.server.predict_app import create_prediction_app
from skewless.server.predict_settings import PredictionSettings
from skewless.serving import parse_model_ref, read_prediction_logs


@pytest.fixture(scope="module")
def versions(serving: ServingRepo) -> ArmVersions:
    return log_arm_versions(serving.store, serving.versions[0])


def _spec(name: str, arms: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"name": name, "model": "churn", "arms": arms, **more}


@contextlib.contextmanager
def routed(
    serving: ServingRepo, tmp_path: Path, spec: dict[str, Any], stop: bool = True, **options: Any
) -> Iterator[TestClient]:
    """A client of the app routing ``spec`` (started from its file); stopped afterwards
    (``stop``), or also when the block raises."""
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    settings = PredictionSettings(
        model=parse_model_ref("churn"), experiment=str(path), log_flush_ms=50, **options
    )
    experiments = ExperimentStore(serving.store.registry)
    try:
        with TestClient(create_prediction_app(serving.store, settings)) as client:
            yield client
    except BaseException:
        stop = True
        raise
    finally:
        if stop:
            with contextlib.suppress(Exception):
                experiments.stop(spec["name"], "test over")


def _arms(answer: dict[str, Any]) -> list[str]:
    return answer["arms"] if "arms" in answer else [answer["arm"]] * len(answer["predictions"])


def _metric(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, (prefix, lines)
    return float(lines[0].split()[-1])


def _logged(serving: ServingRepo, experiment: str) -> Any:
    logs = read_prediction_logs(serving.root, "churn").to_pandas()
    return logs[logs["experiment"] == experiment]


def test_a_split_is_sticky_near_its_weights_and_answers_each_arm_by_its_model(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec(
        "split-80-20",
        [
            {"name": "control", "model": "churn@production", "weight": 0.8},
            {"name": "challenger", "model": f"churn/{versions.other}", "weight": 0.2},
        ],
    )
    users = list(range(2000))  # most have no features: assignment comes before the read
    with routed(serving, tmp_path, spec, missing="null") as c:
        first = c.post("/predict", json={"entities": {"user_id": users}}).json()
        again = [
            c.post("/predict", json={"entities": {"user_id": users[i : i + 50]}}).json()
            for i in range(0, 400, 50)
        ]
        small = c.post("/predict", json={"entities": {"user_id": [3, 4, 5, 6]}}).json()
    arms = _arms(first)
    assert [a for answer in again for a in _arms(answer)] == arms[:400]
    shares = Counter(arms)
    assert chisquare([shares["control"], shares["challenger"]], [1600, 400]).pvalue > 1e-4
    by_arm: dict[str, list[int]] = {"control": [], "challenger": []}
    for user in (3, 4, 5, 6):
        by_arm[arms[user]].append(user)
    for arm, version in (("control", "production"), ("challenger", versions.other)):
        if by_arm[arm]:
            want, _ = expected(serving.store, {"user_id": by_arm[arm]}, version)
            got = [small["predictions"][u - 3] for u in by_arm[arm]]
            assert got == want, arm
    logs = _logged(serving, "split-80-20")
    mine = logs[logs["request_id"] == small["request_id"]].sort_values("row")
    assert mine["row"].tolist() == [0, 1, 2, 3]
    assert mine["user_id"].tolist() == [3, 4, 5, 6]
    assert mine["arm"].tolist() == [arms[u] for u in (3, 4, 5, 6)]
    assert set(mine["assignment"]) == {"sticky"}
    versions_of = {"control": 1, "challenger": versions.other}
    assert mine["model_version"].tolist() == [versions_of[arms[u]] for u in (3, 4, 5, 6)]


def test_new_weights_apply_within_two_seconds_and_move_users_only_into_the_gaining_arm(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec(
        "reweigh",
        [
            {"name": "control", "model": "churn@production", "weight": 0.9},
            {"name": "challenger", "model": f"churn/{versions.other}", "weight": 0.1},
        ],
    )
    users = {"user_id": list(range(N_USERS))}
    with routed(serving, tmp_path, spec) as c:
        before = _arms(c.post("/predict", json={"entities": users}).json())
        ExperimentStore(serving.store.registry).set_weights(
            "reweigh", {"control": 0.5, "challenger": 0.5}, "step"
        )
        changed = time.monotonic()
        after: list[str] = []

        def moved() -> bool:
            after[:] = _arms(c.post("/predict", json={"entities": users}).json())
            return after != before

        wait_for(moved, timeout=2.0)
        assert time.monotonic() - changed < 2.0
        weights = c.get("/model").json()["experiment"]["weights"]
    assert weights == {"control": 0.5, "challenger": 0.5}
    moves = Counter((b, a) for b, a in zip(before, after, strict=True) if b != a)
    assert set(moves) == {("control", "challenger")}
    assert 0.3 < after.count("challenger") / N_USERS < 0.7


def test_the_header_sends_the_whole_request_to_an_arm_and_an_unknown_arm_is_a_422(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec(
        "header",
        [
            {"name": "control", "model": "churn@production", "weight": 0.5},
            {"name": "challenger", "model": f"churn/{versions.other}", "weight": 0.5},
            {"name": "quiet", "model": f"churn/{versions.small}", "shadow": True},
        ],
    )
    users = list(range(30))
    with routed(serving, tmp_path, spec) as c:
        forced = c.post(
            "/predict",
            json={"entities": {"user_id": users}},
            headers={"x-experiment-group": "challenger"},
        ).json()
        unknown = c.post(
            "/predict", json={"entities": {"user_id": [1]}}, headers={"x-experiment-group": "b"}
        )
        shadow = c.post(
            "/predict",
            json={"entities": {"user_id": [1]}},
            headers={"x-experiment-group": "quiet"},
        )
        document = c.get("/openapi.json").json()
    predict = document["paths"]["/predict"]["post"]
    assert [p["name"] for p in predict["parameters"]] == ["x-experiment-group"]
    answer = document["components"]["schemas"]["PredictResponse"]["properties"]
    assert {"arm", "arms", "versions"} <= set(answer)
    assert "202" in document["paths"]["/feedback"]["post"]["responses"]
    assert forced["arm"] == "challenger" and "arms" not in forced
    assert forced["predictions"] == expected(serving.store, {"user_id": users}, versions.other)[0]
    assert unknown.status_code == 422 and shadow.status_code == 422
    body = unknown.json()
    assert body["error"] == "unknown_arm" and body["arms"] == ["control", "challenger"]
    assert "'b'" in body["detail"] and "control, challenger" in body["detail"]
    assert "shadow" in shadow.json()["detail"]
    logs = _logged(serving, "header")
    mine = logs[(logs["request_id"] == forced["request_id"]) & (logs["arm"] == "challenger")]
    assert len(mine) == 30 and set(mine["assignment"]) == {"header"}


def test_a_shadow_is_logged_with_its_own_features_but_never_answers(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec(
        "shadowed",
        [
            {"name": "control", "model": "churn@production", "weight": 1.0},
            {"name": "small", "model": f"churn/{versions.small}", "shadow": True},
        ],
    )
    users = list(range(20))
    with routed(serving, tmp_path, spec) as c:
        answers = [c.post("/predict", json={"entities": {"user_id": users}}).json()]
        answers += [c.post("/predict", json={"entities": {"user_id": [7]}}).json()]
        text = c.get("/metrics").text
    assert all(a["arm"] == "control" for a in answers)
    assert answers[0]["predictions"] == expected(serving.store, {"user_id": users}, 1)[0]
    logs = _logged(serving, "shadowed")
    shadow = logs[logs["assignment"] == "shadow"]
    assert set(shadow["arm"]) == {"small"} and len(shadow) == 21
    one = shadow[shadow["request_id"] == answers[0]["request_id"]].sort_values("row")
    assert (
        one["prediction"].tolist() == expected(serving.store, {"user_id": users}, versions.small)[0]
    )
    assert one["x3"].isna().all() and one["x1"].notna().all()  # the shadow's own lineage
    assert _metric(text, 'skewless_experiment_shadow_dropped_total{experiment="shadowed"') == 0


def test_a_challenger_that_raises_or_is_late_is_answered_for_by_the_champion(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec(
        "broken",
        [
            {"name": "control", "model": "churn@production", "weight": 0.5},
            {"name": "raising", "model": f"churn/{versions.raising}", "weight": 0.25},
            {"name": "slow", "model": f"churn/{versions.slow}", "weight": 0.25},
        ],
        challenger_timeout_ms=50,
    )
    users = list(range(N_USERS))
    with routed(serving, tmp_path, spec) as c:
        started = time.perf_counter()
        answers = [
            c.post("/predict", json={"entities": {"user_id": [user]}}) for user in users[:40]
        ]
        took = time.perf_counter() - started
        text = c.get("/metrics").text
        whole = c.post("/predict", json={"entities": {"user_id": users}})
    assert all(a.status_code == 200 for a in answers) and whole.status_code == 200
    assert whole.json()["predictions"] == expected(serving.store, {"user_id": users}, 1)[0]
    assert set(_arms(whole.json())) == {"control"}
    assert took < 40 * 0.3  # a late challenger is not waited for
    logs = _logged(serving, "broken")
    assert set(logs["arm"]) == {"control"} and set(logs["model_version"]) == {1}
    assert set(logs["assignment"]) == {"sticky", "fallback"}
    fallbacks = {
        arm: _metric(text, f'skewless_experiment_fallbacks_total{{experiment="broken",arm="{arm}"')
        for arm in ("raising", "slow")
    }
    assert fallbacks["raising"] >= 1 and fallbacks["slow"] >= 1
    singles = logs[logs["request_id"].isin([a.json()["request_id"] for a in answers])]
    fallback_rows = (singles["assignment"] == "fallback").sum()
    prefix = 'skewless_experiment_requests_total{experiment="broken",arm="control",assignment='
    assert _metric(text, prefix + '"fallback"') == fallback_rows
    assert "skewless_predict_model_errors_total 0" in text


def test_a_bandit_moves_traffic_to_the_rewarded_arm_and_replays_rewards_after_a_restart(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec(
        "bandit",
        [
            {"name": "a", "model": "churn@production"},
            {"name": "b", "model": f"churn/{versions.other}"},
        ],
        policy="thompson",
    )
    chosen: Counter[str] = Counter()
    with routed(serving, tmp_path, spec, stop=False) as c:
        for i in range(120):
            answer = c.post("/predict", json={"entities": {"user_id": [i % N_USERS]}}).json()
            stored = c.post(
                "/feedback",
                json={"request_id": answer["request_id"], "label": int(answer["arm"] == "b")},
            )
            assert stored.status_code == 200, stored.text
            chosen[answer["arm"]] += 1
        late = Counter(
            c.post("/predict", json={"entities": {"user_id": [i]}}).json()["arm"]
            for i in range(100)
        )
        text = c.get("/metrics").text
        posteriors = c.get("/model").json()["experiment"]["bandit"]
        settings = PredictionSettings(model=parse_model_ref("churn"), experiment="bandit")
    assert chosen["a"] >= 1 and chosen["b"] >= 1
    assert late["b"] >= 90
    assert _metric(text, 'skewless_experiment_allocation{experiment="bandit",arm="b"}') > 0.9
    conversions = _metric(
        text, 'skewless_experiment_conversions_total{experiment="bandit",arm="b"}'
    )
    assert conversions == chosen["b"]
    assert posteriors["rewards"] == {"a": chosen["a"], "b": chosen["b"]}
    try:
        with TestClient(create_prediction_app(serving.store, settings)) as again:
            replayed = again.get("/model").json()["experiment"]["bandit"]
    finally:
        ExperimentStore(serving.store.registry).stop("bandit", "test over")
    assert replayed["rewards"] == posteriors["rewards"]
    assert replayed["conversions"] == {"a": 0, "b": chosen["b"]}


def test_a_stopped_experiment_sends_everything_to_the_champion_unlabelled(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec(
        "stopping",
        [
            {"name": "control", "model": "churn@production", "weight": 0.5},
            {"name": "challenger", "model": f"churn/{versions.other}", "weight": 0.5},
        ],
    )
    users = list(range(N_USERS))
    with routed(serving, tmp_path, spec) as c:
        assert set(_arms(c.post("/predict", json={"entities": {"user_id": users}}).json())) == {
            "control",
            "challenger",
        }
        ExperimentStore(serving.store.registry).stop("stopping", "enough")
        wait_for(lambda: c.get("/model").json()["experiment"]["status"] == "stopped", 2.0)
        answer = c.post(
            "/predict",
            json={"entities": {"user_id": users}},
            headers={"x-experiment-group": "challenger"},
        ).json()
        text = c.get("/metrics").text
    assert "arm" not in answer and "arms" not in answer
    assert answer["predictions"] == expected(serving.store, {"user_id": users}, 1)[0]
    logs = read_prediction_logs(serving.root, "churn").to_pandas()
    mine = logs[logs["request_id"] == answer["request_id"]]
    assert len(mine) == N_USERS and mine["experiment"].isna().all() and mine["arm"].isna().all()
    assert _metric(text, 'skewless_experiment_running{experiment="stopping"}') == 0


def test_feedback_for_a_request_this_server_did_not_answer_is_accepted_and_counted(
    serving: ServingRepo, versions: ArmVersions, tmp_path: Path
) -> None:
    spec = _spec("unmatched", [{"name": "control", "model": "churn@production", "weight": 1}])
    with routed(serving, tmp_path, spec) as c:
        answer = c.post("/predict", json={"entities": {"user_id": [1]}}).json()
        matched = c.post("/feedback", json={"request_id": answer["request_id"], "label": 1})
        later = c.post(
            "/feedback",
            json={
                "feedback": [
                    {"request_id": "from-another-worker", "label": 0},
                    {"request_id": answer["request_id"], "label": 1, "row": 5},
                ]
            },
        )
        text = c.get("/metrics").text
    assert matched.status_code == 200 and matched.json() == {"status": "ok", "stored": 1}
    assert later.status_code == 202
    assert later.json() == {"status": "accepted", "stored": 2, "unmatched": 2}
    assert _metric(text, "skewless_feedback_unmatched_total") == 2
    assert _metric(text, 'skewless_experiment_conversions_total{experiment="unmatched"') == 1


@pytest.mark.parametrize(
    ("arms", "more", "error", "words"),
    [
        (
            [{"name": "control", "model": "churn@production", "weight": 0.7}],
            {},
            ExperimentInputError,
            "must sum to 1",
        ),
        (
            [
                {"name": "control", "model": "churn@production", "weight": 0.5},
                {"name": "next", "model": "churn/99", "weight": 0.5},
            ],
            {},
            UnknownModelError,
            "arm 'next'",
        ),
        (
            [{"name": "control", "model": "churn@production", "weight": 1}],
            {"model": "fraud"},
            ExperimentInputError,
            "splits model 'fraud'",
        ),
        (
            [{"name": "control", "model": "churn/2", "weight": 1}],
            {},
            ExperimentInputError,
            "champion arm 'control'",
        ),
    ],
)
def test_experiments_that_cannot_route_the_model_are_refused_in_one_line(
    serving: ServingRepo,
    versions: ArmVersions,
    tmp_path: Path,
    arms: list[dict[str, Any]],
    more: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**_spec("bad", arms), **more}))
    settings = PredictionSettings(model=parse_model_ref("churn"), experiment=str(path))
    with pytest.raises(error, match=words) as caught:
        create_prediction_app(serving.store, settings)
    assert "\n" not in str(caught.value)
    assert ExperimentStore(serving.store.registry).version("bad") == 0  # nothing started
