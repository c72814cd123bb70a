"""A compressed (ONNX) version served: the prediction app and batch inference answer with it
through onnxruntime, with the original's classes and probabilities within the stated
tolerance (1e-4 absolute on probabilities, at least 99.5% identical classes; float32 in
onnxruntime against float64 in scikit-learn)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import cloudpickle
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from starlette.testclient import TestClient

from serving.predict_repo import N_USERS, ServingRepo
from skewless.models import compress_model, tracking_for
from skewless.server.predict_app import create_prediction_app
from skewless.server.predict_settings import PredictionSettings
from skewless.serving import load_served_model, parse_model_ref
from skewless.serving.batch import batch_context, predict_batch

USERS = list(range(0, N_USERS, 3))


@pytest.fixture(scope="module")
def compressed(serving: ServingRepo) -> int:
    """The ONNX version of ``churn`` version 1."""
    report = compress_model("churn", serving.versions[0], store=serving.store)
    return report.compressed.version


@pytest.fixture(scope="module")
def client(serving: ServingRepo, compressed: int) -> Iterator[TestClient]:
    settings = PredictionSettings(model=parse_model_ref(f"churn/{compressed}"))
    with TestClient(create_prediction_app(serving.store, settings)) as c:
        yield c


def _served(serving: ServingRepo, version: int):  # type: ignore[no-untyped-def]
    _, records = serving.store.registry.records()
    return load_served_model(
        tracking_for(serving.store.config),
        parse_model_ref(f"churn/{version}"),
        records,
        serving.store.registry.history,
    )


def _features(serving: ServingRepo, users: list[int]) -> pd.DataFrame:
    from skewless.models import get_features_for, model_lineage

    lineage = model_lineage("churn", serving.versions[0], serving.store)
    frame = get_features_for("churn", {"user_id": users}, serving.versions[0], serving.store)
    return frame.to_df()[list(lineage.feature_columns)]


def test_the_app_answers_with_the_onnx_version(
    serving: ServingRepo, client: TestClient, compressed: int
) -> None:
    answer = client.post("/predict", json={"entities": {"user_id": USERS}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == {"name": "churn", "version": str(compressed)}
    frame = _features(serving, USERS)
    original = _served(serving, serving.versions[0])
    want, want_proba = original.predict(frame)
    assert np.mean(np.asarray(body["predictions"]) == np.asarray(want)) >= 0.995
    np.testing.assert_allclose(body["probabilities"], want_proba, atol=1e-4)
    onnx, onnx_proba = _served(serving, compressed).predict(frame)
    assert body["predictions"] == onnx and body["probabilities"] == onnx_proba
    described = client.get("/model").json()
    assert described["version"] == str(compressed)
    assert described["lineage"]["feature_refs"] == list(original.lineage.feature_refs)


def test_the_served_onnx_version_keeps_the_original_classes_and_runs_onnxruntime(
    serving: ServingRepo, compressed: int
) -> None:
    served = _served(serving, compressed)
    original = _served(serving, serving.versions[0])
    assert served.classes == original.classes and served.is_classifier
    assert type(served._predictor).__name__ == "OnnxClassifier"
    frame = _features(serving, USERS[:5])
    predictions, probabilities = served.predict(frame)
    assert probabilities is not None and len(probabilities[0]) == len(original.classes or [])
    assert all(isinstance(p, int) for p in predictions)
    # Spark executors receive the served model pickled.
    again = cloudpickle.loads(cloudpickle.dumps(served))
    assert again.predict(frame) == (predictions, probabilities)


def test_batch_inference_scores_with_the_onnx_version(
    serving: ServingRepo, compressed: int
) -> None:
    entities = pd.DataFrame(
        {
            "user_id": USERS,
            "event_timestamp": [serving.end - timedelta(hours=2)] * len(USERS),
        }
    )
    context = batch_context(serving.store)
    report, table = predict_batch(context, f"churn/{compressed}", entities)
    _, before = predict_batch(context, f"churn/{serving.versions[0]}", entities)
    assert table is not None and before is not None
    assert (report.model_name, report.model_version, report.rows) == (
        "churn",
        compressed,
        len(USERS),
    )
    assert table.column_names == before.column_names
    assert set(table.column("model_version").to_pylist()) == {compressed}
    got = table.column("prediction").to_numpy()
    assert np.mean(got == before.column("prediction").to_numpy()) >= 0.995
    for name in [c for c in table.column_names if c.startswith("probability_")]:
        np.testing.assert_allclose(
            table.column(name).to_numpy(), before.column(name).to_numpy(), atol=1e-4
        )
