"""Model compression: scikit-learn versions converted to ONNX (and int8), registered with the
original's lineage, measured against it, gated, and refused with one line when unsupported.

Stated tolerances, on the tiny repository's held-out rows (float32 inputs and arithmetic in
onnxruntime against float64 in scikit-learn):

- a tree ensemble converted to ONNX: probabilities within 1e-4 absolute, at least 99.5% of the
  predicted classes identical, f1 within 0.005;
- a regressor: predictions within 1e-3 absolute (the label is about 0 to 32), rmse within 1e-3;
- an MLP quantized to int8: the file at most half of the float ONNX file's, at least 97% of the
  predicted classes identical, probabilities within 0.1, f1 within 0.02.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner, Result

from skewless import FeatureStore
from skewless.cli.main import app
from skewless.models import (
    CompressionReport,
    ModelCompressionError,
    Thresholds,
    compress_model,
    get_model_version,
    load_model,
    log_model,
    run_gate,
    training_data,
)
from skewless.models.onnx_model import OnnxClassifier, OnnxRegressor


class Doubler:
    """A custom model, logged as a pyfunc: nothing skl2onnx knows."""

    def predict(self, x: Any) -> Any:
        return x.iloc[:, 0].to_numpy() * 2.0


def _cli(store: FeatureStore, *args: object) -> Result:
    return CliRunner().invoke(app, ["--repo", str(store.repo_path), *map(str, args)])


def _holdout(store: FeatureStore, name: str) -> tuple[Any, Any]:
    return training_data(name, store)


def _log(store: FeatureStore, model: Any, name: str, dataset: str) -> int:
    x, y = training_data(dataset, store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return log_model(model.fit(x, y), name, dataset=dataset, store=store).version


@pytest.fixture(scope="module")
def trees(store: FeatureStore) -> tuple[int, CompressionReport]:
    """``churn`` version 1 (a gradient-boosted tree ensemble) and its ONNX compression."""
    original = _log(
        store, HistGradientBoostingClassifier(max_iter=40, random_state=0), "churn", "churn_train"
    )
    report = compress_model("churn", original, dataset="churn_holdout", store=store)
    return original, report


@pytest.fixture(scope="module")
def mlp(store: FeatureStore) -> tuple[CompressionReport, CompressionReport]:
    """``mlp`` version 1 (scaler + MLP), compressed to ONNX (float) and to ONNX int8."""
    model = make_pipeline(StandardScaler(), MLPClassifier((128, 128), max_iter=400, random_state=0))
    original = _log(store, model, "mlp", "churn_train")
    plain = compress_model("mlp", original, dataset="churn_holdout", store=store)
    int8 = compress_model("mlp", original, quantize="int8", dataset="churn_holdout", store=store)
    return plain, int8


def test_a_tree_ensemble_converts_within_the_stated_tolerance(
    store: FeatureStore, trees: tuple[int, CompressionReport]
) -> None:
    original, report = trees
    assert (report.original.version, report.compressed.version) == (original, original + 1)
    assert report.compressed.kind == "onnx" and report.dataset == "churn_holdout"
    x, _ = _holdout(store, "churn_holdout")
    estimator = load_model("churn", original, store).get_raw_model()
    onnx = load_model("churn", report.compressed.version, store).get_raw_model()
    assert isinstance(onnx, OnnxClassifier)
    assert onnx.classes_.tolist() == estimator.classes_.tolist()
    np.testing.assert_allclose(onnx.predict_proba(x), estimator.predict_proba(x), atol=1e-4)
    assert np.mean(onnx.predict(x) == estimator.predict(x)) >= 0.995
    assert report.agreement.rows == len(x)
    assert report.agreement.labels is not None and report.agreement.labels >= 0.995
    assert report.agreement.max_abs_diff <= 1e-4
    assert report.metric_loss is not None and abs(report.metric_loss) <= 0.005


def test_the_report_holds_the_guide_table(trees: tuple[int, CompressionReport]) -> None:
    _, report = trees
    o, c = report.original, report.compressed
    assert o.size_mb > 0 and c.size_mb > 0 and o.p99_ms and c.p99_ms
    assert report.size_reduction == pytest.approx(1 - c.size_mb / o.size_mb)
    assert report.latency_change == pytest.approx(c.p99_ms / o.p99_ms - 1)
    assert set(o.metrics) == set(c.metrics) == {"precision", "recall", "f1", "auc"}
    rows = {row[0]: row for row in report.table()}
    assert list(rows) == ["size_mb", "p99_ms", "precision", "recall", "f1", "auc"]
    assert rows["size_mb"][3] == f"{-report.size_reduction:+.1%}"
    assert rows["f1"][3] == f"loss {report.metric_loss:+.4f}"
    data = report.to_dict()
    assert json.loads(json.dumps(data))["compressed"]["version"] == c.version


def test_the_compressed_version_carries_the_original_lineage(
    store: FeatureStore, trees: tuple[int, CompressionReport]
) -> None:
    original, report = trees
    before = get_model_version("churn", original, store)
    after = get_model_version("churn", report.compressed.version, store)
    assert after.lineage == before.lineage
    assert after.tags["skewless.compressed_from"] == str(original)
    assert after.tags["skewless.compression"] == "onnx"
    lineage_tags = {k: v for k, v in before.tags.items() if k.startswith("skewless.")}
    assert {k: after.tags[k] for k in lineage_tags} == lineage_tags
    assert not any(k.startswith("skewless.gate") for k in after.tags)


def test_int8_quantization_shrinks_an_mlp_within_the_stated_tolerance(
    store: FeatureStore, mlp: tuple[CompressionReport, CompressionReport]
) -> None:
    plain, int8 = mlp
    assert int8.compressed.kind == "onnx-int8"
    assert int8.compressed.size_mb / plain.compressed.size_mb <= 0.5
    assert int8.agreement.labels is not None and int8.agreement.labels >= 0.97
    assert int8.agreement.max_abs_diff <= 0.1
    assert int8.metric_loss is not None and int8.metric_loss <= 0.02
    assert plain.agreement.max_abs_diff <= 1e-4  # the float graph is the MLP itself
    x, _ = _holdout(store, "churn_holdout")
    estimator = load_model("mlp", int8.original.version, store).get_raw_model()
    quantized = load_model("mlp", int8.compressed.version, store).get_raw_model()
    assert np.mean(quantized.predict(x) == estimator.predict(x)) >= 0.97
    np.testing.assert_allclose(quantized.predict_proba(x), estimator.predict_proba(x), atol=0.1)
    tags = get_model_version("mlp", int8.compressed.version, store).tags
    assert tags["skewless.compression"] == "onnx-int8"
    assert tags["skewless.compressed_from"] == str(int8.original.version)


def test_a_regressor_converts_within_the_stated_tolerance(store: FeatureStore) -> None:
    original = _log(
        store, HistGradientBoostingRegressor(max_iter=40, random_state=0), "spend", "spend_train"
    )
    report = compress_model("spend", original, dataset="spend_holdout", store=store)
    assert report.task == "regressor" and report.agreement.labels is None
    assert report.agreement.max_abs_diff <= 1e-3
    assert report.primary_metric == "rmse" and set(report.original.metrics) == {"rmse", "mae"}
    assert report.metric_loss is not None and abs(report.metric_loss) <= 1e-3
    onnx = load_model("spend", report.compressed.version, store).get_raw_model()
    assert isinstance(onnx, OnnxRegressor) and not hasattr(onnx, "predict_proba")


def test_without_a_dataset_the_training_rows_are_compared_and_no_metric(
    store: FeatureStore, trees: tuple[int, CompressionReport]
) -> None:
    original, _ = trees
    report = compress_model("churn", original, store=store)
    assert report.dataset is None and report.rows_from == "churn_train"
    assert report.original.metrics == {} and report.metric_loss is None
    assert report.agreement.labels is not None and report.agreement.labels >= 0.995


def test_the_gate_measures_a_compressed_version_against_the_original(
    store: FeatureStore, trees: tuple[int, CompressionReport]
) -> None:
    original, compressed = trees
    report = run_gate(
        "churn",
        "churn_holdout",
        version=compressed.compressed.version,
        thresholds=Thresholds(
            baseline=str(original), max_regression=0.005, max_p99_ms=100, max_size_mb=10
        ),
        store=store,
    )
    assert report.passed, report.to_dict()
    assert report.metrics["size_mb"] == pytest.approx(compressed.compressed.size_mb)
    assert report.metrics["p99_ms"] is not None and report.metrics["p99_ms"] > 0
    assert "(numpy)" in report.notes[-1]
    regression = report.checks[-1]
    assert regression.name == f"regression vs {original}"
    assert regression.value is not None and abs(regression.value) <= 0.005


def test_an_unsupported_model_type_is_one_line(store: FeatureStore) -> None:
    version = _log_custom(store)
    with pytest.raises(ModelCompressionError) as caught:
        compress_model("doubler", version, store=store)
    message = str(caught.value)
    assert "\n" not in message
    assert f"model 'doubler' version {version} is a " in message
    assert "test_compress.Doubler" in message and "scikit-learn" in message


def _log_custom(store: FeatureStore) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return log_model(
            Doubler(), "doubler", dataset="spend_train", store=store, task="regressor"
        ).version


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"format": "tflite"}, "compression format 'tflite' is not supported: use onnx"),
        ({"quantize": "int4"}, "quantization 'int4' is not supported: use int8"),
        ({"quantize": "int8"}, "has no weight matrices for int8 quantization"),
    ],
)
def test_bad_options_are_refused_before_anything_is_registered(
    store: FeatureStore,
    trees: tuple[int, CompressionReport],
    options: dict[str, str],
    expected: str,
) -> None:
    original, _ = trees
    from skewless.models import list_model_versions

    count = len(list_model_versions("churn", store))
    with pytest.raises(ModelCompressionError, match=expected):
        compress_model("churn", original, store=store, **options)
    assert len(list_model_versions("churn", store)) == count


def test_a_compressed_version_is_not_compressed_again(
    store: FeatureStore, trees: tuple[int, CompressionReport]
) -> None:
    original, report = trees
    with pytest.raises(ModelCompressionError, match=f"from version {original}"):
        compress_model("churn", report.compressed.version, store=store)


def test_the_cli_prints_the_table_and_writes_the_report(
    store: FeatureStore, trees: tuple[int, CompressionReport], tmp_path: Path
) -> None:
    original, _ = trees
    out = tmp_path / "compress.json"
    result = _cli(
        store, "models", "compress", "churn", original, "--format", "onnx",
        "--dataset", "churn_holdout", "--report", out,
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    data = json.loads(out.read_text())
    new = data["compressed"]["version"]
    text = result.stdout
    assert f"churn version {original} -> version {new} (onnx)" in text
    assert f"ORIGINAL (v{original})" in text and f"ONNX (v{new})" in text
    for measure in ("size_mb", "p99_ms", "f1", "auc"):
        assert measure in text
    assert f"{-data['size_reduction']:+.1%}" in text
    assert "of predicted classes identical" in text
    assert f"--version {new} --baseline {original}" in text


def _one_error(result: Result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_the_cli_errors_are_one_line_with_exit_code_1(
    store: FeatureStore, trees: tuple[int, CompressionReport]
) -> None:
    original, _ = trees
    custom = _log_custom(store)
    line = _one_error(_cli(store, "models", "compress", "doubler", custom))
    assert "test_compress.Doubler, which skewless cannot convert to ONNX" in line
    line = _one_error(_cli(store, "models", "compress", "churn", original, "--quantize", "int8"))
    assert "compress it without --quantize" in line
    line = _one_error(_cli(store, "models", "compress", "nosuch", 1))
    assert "no registered model 'nosuch'" in line
    line = _one_error(
        _cli(store, "models", "compress", "churn", original, "--dataset", "churn_train")
    )
    assert "is the training dataset of model 'churn'" in line


def _frame(n: int = 600) -> tuple[Any, Any]:
    import pandas as pd

    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "category": rng.choice(["books", "games", "tools"], n),
            "visits": rng.integers(0, 4, n).astype("float64"),
        }
    )
    y = ((x["amount"] + (x["category"] == "books") + 0.2 * x["visits"]) > 0.8).astype("int64")
    return x, y


def test_a_string_feature_becomes_an_input_of_its_own(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OrdinalEncoder

    from skewless.models.onnx_convert import to_onnx_bytes
    from skewless.models.onnx_model import load_onnx_predictor, write_onnx_model

    x, y = _frame()
    encode = ColumnTransformer(
        [("category", OrdinalEncoder(), ["category"])], remainder="passthrough"
    )
    model = make_pipeline(encode, HistGradientBoostingClassifier(max_iter=30, random_state=0))
    model.fit(x, y)
    kinds = {"amount": "float", "category": "string", "visits": "float"}
    graph = to_onnx_bytes(model, kinds, "model 'shop' version 1")
    write_onnx_model(
        tmp_path, graph, inputs=list(kinds), input_kinds=kinds, task="classifier",
        classes=model.classes_.tolist(), compression="onnx",
    )  # fmt: skip
    onnx = load_onnx_predictor(tmp_path)
    np.testing.assert_allclose(onnx.predict_proba(x), model.predict_proba(x), atol=1e-4)
    assert np.mean(onnx.predict(x) == model.predict(x)) >= 0.995
    row = x.iloc[3].to_numpy()
    np.testing.assert_allclose(onnx.predict_proba(row), model.predict_proba(x.iloc[3:4]), atol=1e-4)


def test_categorical_splits_are_refused_as_they_would_change_predictions() -> None:
    from skewless.models.onnx_convert import to_onnx_bytes

    x, y = _frame()
    x["category"] = x["category"].map({"books": 0, "games": 1, "tools": 2}).astype("float64")
    model = HistGradientBoostingClassifier(
        max_iter=20, categorical_features=[False, True, False], random_state=0
    ).fit(x, y)
    with pytest.raises(ModelCompressionError) as caught:
        to_onnx_bytes(model, dict.fromkeys(x.columns, "float"), "model 'shop' version 1")
    message = str(caught.value)
    assert message.startswith("model 'shop' version 1 holds a HistGradientBoostingClassifier")
    assert "categorical_features=None" in message and "\n" not in message
