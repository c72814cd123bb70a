"""The prediction server's application in-process: answers equal the model on the features
``get_features_for`` reads, errors answer 4xx with JSON, and the model can be swapped."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from serving.predict_repo import N_USERS, ServingRepo, expected
from skewless.server.predict_app import create_prediction_app
from skewless.server.predict_settings import PredictionSettings
from skewless.server.settings import ServerSettings
from skewless.serving import parse_model_ref


def _client(serving: ServingRepo, **options: Any) -> TestClient:
    settings = PredictionSettings(model=parse_model_ref("churn"), **options)
    return TestClient(create_prediction_app(serving.store, settings))


@pytest.fixture(scope="module")
def client(serving: ServingRepo) -> Iterator[TestClient]:
    with _client(serving) as c:
        yield c


@settings(max_examples=25, deadline=None)
@given(users=st.lists(st.integers(0, N_USERS - 1), min_size=1, max_size=30))
def test_predictions_equal_the_model_on_the_features_get_features_for_reads(
    serving: ServingRepo, client: TestClient, users: list[int]
) -> None:
    answer = client.post("/predict", json={"entities": {"user_id": users}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    want, frame = expected(serving.store, {"user_id": users}, "production")
    assert body["predictions"] == want
    assert body["model"] == {"name": "churn", "version": "1"}
    from skewless.models import load_model

    estimator = load_model("churn", "production", serving.store).get_raw_model()
    np.testing.assert_allclose(body["probabilities"], estimator.predict_proba(frame), rtol=1e-12)
    assert len(body["request_id"]) == 36


def test_the_request_id_header_is_kept(client: TestClient) -> None:
    answer = client.post(
        "/predict", json={"entities": {"user_id": [1]}}, headers={"x-request-id": "abc-1"}
    )
    assert answer.json()["request_id"] == "abc-1"
    assert answer.headers["x-request-id"] == "abc-1"


def test_missing_entities_answer_422_naming_the_keys(client: TestClient) -> None:
    answer = client.post("/predict", json={"entities": {"user_id": [3, 9999, 8888]}})
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "missing_entities"
    assert body["missing"] == [{"user_id": 9999}, {"user_id": 8888}]
    assert "user_id=9999" in body["detail"] and "--missing null" in body["detail"]


def test_missing_null_answers_null_for_those_and_the_model_for_the_rest(
    serving: ServingRepo,
) -> None:
    with _client(serving, missing="null") as c:
        body = c.post("/predict", json={"entities": {"user_id": [3, 9999, 4]}}).json()
    want, _ = expected(serving.store, {"user_id": [3, 4]}, "production")
    assert body["predictions"] == [want[0], None, want[1]]
    assert body["missing"] == [1]
    assert body["probabilities"][1] is None and len(body["probabilities"][0]) == 2


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"[1, 2]", 400, "malformed_json"),
        (b"", 400, "empty_body"),
        (b'{"users": [1]}', 422, "invalid_request"),
        (b'{"entities": {"user_id": [1]}, "features": {"x1": [0.5]}}', 422, "invalid_request"),
        (b'{"entities": {"user_id": "1"}}', 422, "invalid_request"),
        (b'{"entities": {"user_id": [1, 2], "other": [1]}}', 422, "invalid_request"),
        (b'{"entities": {}}', 422, "invalid_request"),
        (b'{"entities": {"user_id": []}}', 422, "invalid_request"),
        (b'{"entities": {"user_id": ["1001x"]}}', 422, "invalid_entities"),
        (b'{"entities": {"user_id": [1.5]}}', 422, "invalid_entities"),
        (b'{"entities": {"customer": [1]}}', 422, "invalid_entities"),
    ],
)
def test_bad_bodies_answer_4xx_with_a_json_body(
    client: TestClient, body: bytes, status: int, code: str
) -> None:
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code
    assert answer.json()["detail"]


def test_a_string_for_an_int64_key_names_the_key_and_both_types(client: TestClient) -> None:
    answer = client.post("/predict", json={"entities": {"user_id": ["abc"]}})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert "user_id" in detail and "Int64" in detail


def test_oversize_bodies_and_too_many_entities_answer_413(serving: ServingRepo) -> None:
    http = ServerSettings(max_body_bytes=2_000, max_entities=50)
    with _client(serving, http=http) as c:
        big = c.post("/predict", json={"entities": {"user_id": list(range(1000))}})
        many = c.post("/predict", json={"entities": {"user_id": list(range(60))}})
    assert big.status_code == 413 and big.json()["error"] == "body_too_large"
    assert many.status_code == 413 and many.json()["error"] == "too_many_entities"


def test_model_health_ready_metrics_and_openapi(client: TestClient) -> None:
    model = client.get("/model").json()
    assert model["name"] == "churn" and model["version"] == "1"
    assert model["lineage"]["feature_refs"] == [
        "user_stats:x1",
        "user_stats:x2",
        "user_stats:x3",
        "user_stats:visits",
    ]
    assert model["lineage"]["dataset"] == "churn_train"
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    client.post("/predict", json={"entities": {"user_id": [1, 2]}})
    client.post("/predict", json={"entities": {"user_id": [77777]}})
    text = client.get("/metrics").text
    for name in (
        'skewless_http_requests_total{route="/predict",method="POST",status="200"}',
        "skewless_http_request_duration_seconds_bucket",
        "skewless_predict_batch_requests_bucket",
        "skewless_predict_batch_entities_bucket",
        "skewless_predict_feature_fetch_seconds_count",
        "skewless_predict_model_seconds_count",
        "skewless_model_version 1",
    ):
        assert name in text, name
    missing = [
        line for line in text.splitlines() if line.startswith("skewless_predict_missing_entities")
    ]
    assert missing and int(missing[0].split()[-1]) >= 1
    doc = client.get("/openapi.json").json()
    assert {"/predict", "/feedback", "/model", "/ready"} <= set(doc["paths"])
    assert client.get("/nowhere").status_code == 404
    assert client.get("/predict").status_code == 405


def test_a_model_that_raises_answers_500_with_the_request_id(serving: ServingRepo) -> None:
    from skewless.serving.model import ServedModel

    with _client(serving) as c:
        server = c.app.state.server  # type: ignore[attr-defined]
        good = server.model

        class Broken:
            def predict(self, frame: Any) -> Any:
                raise ValueError("the model's own bug")

        server.service.swap(ServedModel(good.ref, good.info, good.lineage, Broken()))
        answer = c.post("/predict", json={"entities": {"user_id": [1]}})
        server.service.swap(good)
        after = c.post("/predict", json={"entities": {"user_id": [1]}})
    assert answer.status_code == 500
    body = answer.json()
    assert body["error"] == "model_error" and body["request_id"]
    assert "the model's own bug" in body["detail"]
    assert after.status_code == 200


def test_unknown_models_versions_and_aliases_are_refused(serving: ServingRepo) -> None:
    from skewless.errors import UnknownModelError

    for ref in ("nosuch", "churn/99", "churn@staging"):
        with pytest.raises(UnknownModelError):
            create_prediction_app(serving.store, PredictionSettings(model=parse_model_ref(ref)))


def test_a_model_logged_without_lineage_is_refused_with_how_to_log_it(
    serving: ServingRepo,
) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from skewless.errors import ModelLineageError
    from skewless.models.tracking import tracking_for

    tracking = tracking_for(serving.store.config)
    with tracking.active() as client, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
        with mlflow.start_run(experiment_id=tracking.experiment_id(client)):  # the repo's store
            info = mlflow.sklearn.log_model(fitted, name="m", registered_model_name="bare")
        assert info.registered_model_version
    with pytest.raises(ModelLineageError, match="log_model"):
        create_prediction_app(serving.store, PredictionSettings(model=parse_model_ref("bare/1")))


def test_model_references_parse_as_promote_takes_them() -> None:
    from skewless.errors import UnknownModelError

    assert str(parse_model_ref("churn")) == "churn@production"
    assert str(parse_model_ref("churn@Staging")) == "churn@staging"
    assert str(parse_model_ref("churn/3")) == "churn/3"
    assert str(parse_model_ref("churn", "3")) == "churn/3"
    assert str(parse_model_ref("churn", "staging")) == "churn@staging"
    for bad in ("", "@prod", "churn/x", "churn@"):
        with pytest.raises(UnknownModelError):
            parse_model_ref(bad)
    with pytest.raises(UnknownModelError, match="already names"):
        parse_model_ref("churn@production", "3")


def test_answers_are_logged_and_feedback_joins_them_by_request_id(serving: ServingRepo) -> None:
    from skewless.serving import labelled_predictions, read_prediction_logs

    with _client(serving, log_flush_ms=50) as c:
        first = c.post("/predict", json={"entities": {"user_id": [5, 6]}}).json()
        second = c.post("/predict", json={"entities": {"user_id": [7]}}).json()
        stored = c.post("/feedback", json={"request_id": first["request_id"], "label": 1})
        many = c.post(
            "/feedback",
            json={"feedback": [{"request_id": second["request_id"], "label": 0, "row": 0}]},
        )
        bad = c.post("/feedback", json={"request_id": "", "label": 1})
    assert stored.json() == {"status": "ok", "stored": 1} and many.json()["stored"] == 1
    assert bad.status_code == 422
    logs = read_prediction_logs(serving.root, "churn").to_pandas()
    mine = logs[logs["request_id"].isin([first["request_id"], second["request_id"]])]
    mine = mine.sort_values(["request_id", "row"])
    assert sorted(mine["user_id"]) == [5, 6, 7]
    want, frame = expected(serving.store, {"user_id": [5, 6, 7]}, "production")
    by_user = dict(zip(mine["user_id"], mine["prediction"], strict=True))
    assert [by_user[u] for u in (5, 6, 7)] == want
    x1 = dict(zip(mine["user_id"], mine["x1"], strict=True))
    assert [x1[u] for u in (5, 6, 7)] == frame["x1"].tolist()
    assert set(mine["model_version"]) == {1} and (mine["latency_ms"] > 0).all()
    joined = labelled_predictions(serving.root, "churn").to_pandas()
    keys = joined["request_id"] + ":" + joined["row"].astype(str)
    labels = dict(zip(keys, joined["label"], strict=True))
    assert labels[f"{first['request_id']}:0"] == 1 and labels[f"{first['request_id']}:1"] == 1
    assert labels[f"{second['request_id']}:0"] == 0


def test_a_pipeline_is_transformed_once_and_answers_as_its_pyfunc_model(
    serving: ServingRepo,
) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skewless.models import get_features_for, load_model, log_model, training_data

    x, y = training_data("churn_train", serving.store)
    pipeline = Pipeline(
        [
            (
                "scale",
                ColumnTransformer(
                    [("num", StandardScaler(), ["x1", "x2"])], remainder="passthrough"
                ),
            ),
            ("model", HistGradientBoostingClassifier(max_iter=10)),
        ]
    ).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        version = log_model(pipeline, "piped", dataset="churn_train", store=serving.store).version
    settings = PredictionSettings(model=parse_model_ref(f"piped/{version}"), log_predictions=False)
    with TestClient(create_prediction_app(serving.store, settings)) as c:
        server = c.app.state.server  # type: ignore[attr-defined]
        assert server.model._pipeline_split is not None
        users = list(range(0, N_USERS, 7))
        body = c.post("/predict", json={"entities": {"user_id": users}}).json()
    frame = get_features_for("piped", {"user_id": users}, version, serving.store).to_df()[
        ["x1", "x2", "x3", "visits"]
    ]
    assert (
        body["predictions"] == load_model("piped", version, serving.store).predict(frame).tolist()
    )
    np.testing.assert_array_equal(body["probabilities"], pipeline.predict_proba(frame))
