"""Model compression: a registered scikit-learn version converted to ONNX (optionally with int8
weights), registered as a new version of the same model, and measured against the original.

The new version carries the original's lineage tags, plus ``skewless.compressed_from`` (the
original's version number) and ``skewless.compression`` (``onnx`` or ``onnx-int8``); its
artifacts are an ONNX graph that :mod:`skewless.models.onnx_model` loads with onnxruntime, so
the gate, the prediction server and batch inference use it like any version. Both versions are
measured the way the gate measures them (artifact size, p99 of single-row predictions, the
metrics on a held-out dataset) and their predictions compared on the same rows
(:class:`~skewless.models.compress_report.CompressionReport`). Whether the compressed version
may replace the original stays the gate's decision: ``skewless gate NAME --version NEW
--baseline ORIGINAL --max-regression 0.01``.

Example:
    >>> report = compress_model("churn", 3, quantize="int8",
    ...                         dataset="churn_holdout", store=store)  # doctest: +SKIP
    >>> report.compressed.version, f"{report.size_reduction:.0%}"  # doctest: +SKIP
    (4, '73%')
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skewless.errors import GateInputError, ModelCompressionError, UnknownObjectError
from skewless.models.compress_report import Agreement, CompressionReport, VersionFigures
from skewless.models.gate import (
    LATENCY_ROWS,
    _check_held_out,
    _latency_p99_ms,
    _load,
    _Loaded,
    _predict,
    _quality,
)
from skewless.models.lineage import PREFIX, Lineage, infer_label
from skewless.models.onnx_convert import quantize_int8, to_onnx_bytes
from skewless.models.onnx_model import LOADER_MODULE, load_onnx_predictor, write_onnx_model
from skewless.models.registry import resolve_store
from skewless.models.tracking import tracking_for
from skewless.models.training import _requirements

if TYPE_CHECKING:
    import pandas as pd

    from skewless.store import FeatureStore

__all__ = [
    "COMPRESSED_FROM_TAG",
    "COMPRESSION_TAG",
    "FORMATS",
    "QUANTIZATIONS",
    "compress_model",
]

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)
COMPRESSED_FROM_TAG = PREFIX + "compressed_from"
COMPRESSION_TAG = PREFIX + "compression"
_NUMERIC = {"integer", "long", "float", "double", "boolean"}
_SAMPLE_ROWS = 20


def _check_options(fmt: str, quantize: str | None) -> str:
    if fmt not in FORMATS:
        raise ModelCompressionError(
            f"compression format {fmt!r} is not supported: use {', '.join(FORMATS)}"
        )
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ModelCompressionError(
            f"quantization {quantize!r} is not supported: use {', '.join(QUANTIZATIONS)}, "
            "or leave it out"
        )
    return fmt if quantize is None else f"{fmt}-{quantize}"


def _check_original(loaded: _Loaded, what: str) -> Lineage:
    tags = {str(k): str(v) for k, v in (loaded.version.tags or {}).items()}
    if COMPRESSION_TAG in tags:
        raise ModelCompressionError(
            f"{what} is already compressed ({tags[COMPRESSION_TAG]}, from version "
            f"{tags.get(COMPRESSED_FROM_TAG, '?')}): compress the original version instead"
        )
    lineage = Lineage.from_tags(tags)
    if lineage is None:
        raise ModelCompressionError(
            f"{what} carries no skewless lineage, so its inputs are unknown: log it with "
            "skewless.models.log_model(model, NAME, dataset=DATASET) and compress that version"
        )
    return lineage


def _input_kinds(loaded: _Loaded, lineage: Lineage, what: str) -> dict[str, str]:
    """Column -> ``float`` or ``string``, from the version's signature, in lineage order."""
    schema = loaded.pyfunc.metadata.get_input_schema()
    found: dict[str, str] = {}
    if schema is not None:
        for column, kind in zip(schema.input_names(), schema.input_types(), strict=False):
            name = str(getattr(kind, "name", kind))
            if name not in (*_NUMERIC, "string"):
                raise ModelCompressionError(
                    f"{what} takes the feature {column!r} of type {name}, which ONNX inputs "
                    "here do not carry: compress models of numeric and string features"
                )
            found[str(column)] = "string" if name == "string" else "float"
    return {c: found.get(c, "float") for c in lineage.feature_columns}


def _underlying(loaded: _Loaded) -> Any:
    """The version's own model: the estimator, or the object a ``pyfunc`` version wraps."""
    if loaded.raw is not None:
        return loaded.raw
    from skewless.models._pyfunc import PredictorModel

    try:
        inner = loaded.pyfunc.unwrap_python_model()
    except Exception:
        return loaded.pyfunc
    return getattr(inner, "model", inner) if isinstance(inner, PredictorModel) else inner


def _rows(
    store: FeatureStore, lineage: Lineage, dataset: str | None, name: str
) -> tuple[str, pd.DataFrame, Any]:
    """The dataset predicted on, its frame, and its labels (None without a held-out set)."""
    if dataset is not None:
        saved = store.get_dataset(dataset)
        _check_held_out(saved, lineage, name)
        target = infer_label(saved, lineage.label or None)
        frame = saved.to_df()
        return saved.name, frame, frame[target]
    try:
        saved = store.get_dataset(lineage.dataset)
    except UnknownObjectError:
        raise ModelCompressionError(
            f"the training dataset {lineage.dataset!r} of model {name!r} is gone, and the "
            "figures need rows to predict: pass dataset=HELD_OUT (--dataset)"
        ) from None
    return saved.name, saved.to_df(), None


def _agreement(task: str, original: _Loaded, compressed: _Loaded, x: pd.DataFrame) -> Agreement:
    before, before_proba, _ = _predict(original, x)
    after, after_proba, _ = _predict(compressed, x)
    if task == "classifier":
        labels = float(np.mean(np.asarray(before) == np.asarray(after)))
        if before_proba is not None and after_proba is not None:
            diff = np.abs(np.asarray(before_proba, float) - np.asarray(after_proba, float))
        else:
            diff = np.zeros(1)
        return Agreement(len(x), labels, float(diff.max()))
    diff = np.abs(np.asarray(before, float).reshape(-1) - np.asarray(after, float).reshape(-1))
    return Agreement(len(x), None, float(diff.max()) if diff.size else 0.0)


def _figures(
    loaded: _Loaded, kind: str, task: str, x: pd.DataFrame, y: Any, latency_rows: int
) -> VersionFigures:
    metrics = _quality(task, loaded, x, y) if y is not None else {}
    p99, _ = _latency_p99_ms(loaded, x, latency_rows)
    return VersionFigures(
        int(loaded.version.version), kind, loaded.size_bytes / (1024 * 1024), p99, metrics
    )


def _register(
    client: Any,
    experiment_id: str,
    name: str,
    original: _Loaded,
    lineage: Lineage,
    model: bytes,
    compression: str,
    sample: pd.DataFrame,
    kinds: dict[str, str],
) -> int:
    """Log ``model`` as a run of the experiment and register it as a new version of ``name``."""
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    raw = original.raw
    tags = {
        **lineage.to_tags(),
        COMPRESSED_FROM_TAG: str(original.version.version),
        COMPRESSION_TAG: compression,
    }
    with tempfile.TemporaryDirectory(prefix="skewless-compress-") as tmp:
        data = write_onnx_model(
            Path(tmp) / "onnx",
            model,
            inputs=lineage.feature_columns,
            input_kinds=kinds if "string" in kinds.values() else None,
            task=lineage.task,
            classes=np.asarray(raw.classes_).tolist() if lineage.task == "classifier" else None,
            compression=compression,
        )
        x = lineage.frame(sample)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            signature = infer_signature(x, load_onnx_predictor(data).predict(x))
        with mlflow.start_run(experiment_id=experiment_id, tags=tags):
            mlflow.log_params({"compressed_from": original.version.version, "format": compression})
            info = mlflow.pyfunc.log_model(
                name="model",
                loader_module=LOADER_MODULE,
                data_path=str(data),
                signature=signature,
                pip_requirements=_requirements("onnxruntime", "numpy", "pandas"),
            )
    try:
        mv = mlflow.register_model(info.model_uri, name, tags=tags)
    except Exception as exc:
        raise ModelCompressionError(
            f"cannot register the compressed version of model {name!r}: {exc}"
        ) from None
    return int(mv.version)


def compress_model(
    name: str,
    version: str | int,
    *,
    format: str = "onnx",
    quantize: str | None = None,
    dataset: str | None = None,
    store: FeatureStore | None = None,
    latency_rows: int = LATENCY_ROWS,
) -> CompressionReport:
    """Convert version ``version`` of model ``name`` to ONNX, register it, and measure both.

    Args:
        name: the registered model.
        version: a version number or alias of a scikit-learn model logged by ``log_model``.
        format: ``onnx``.
        quantize: ``int8`` for dynamic int8 quantization of the weights (neural networks).
        dataset: a held-out saved dataset: the metrics (and latency and agreement rows) come
            from it; without it the rows are the training dataset's and no metric is measured.
        store: the feature store (default: the repository in the working directory).
        latency_rows: rows predicted one at a time for each version's p99.

    Returns:
        The figures of both versions, the agreement of their predictions, and the derived
        size reduction, latency change and metric loss.

    Raises:
        UnknownObjectError: no such model, version, alias or dataset.
        ModelCompressionError: an unsupported format, quantization or model type, a version
            without lineage or already compressed, a model without weights to quantize, or the
            compress extra missing.
        GateInputError: ``dataset`` is the model's training data, or lacks the label.
        ModelRegistryError: MLflow is missing or the tracking server cannot be reached.
    """
    compression = _check_options(format, quantize)
    s = resolve_store(store)
    tracking = tracking_for(s.config)
    with tracking.active() as client:
        original = _load(client, name, version)
        what = f"model {name!r} version {original.version.version}"
        lineage = _check_original(original, what)
        kinds = _input_kinds(original, lineage, what)
        model = to_onnx_bytes(_underlying(original), kinds, what)
        if quantize == "int8":
            model = quantize_int8(model, what)
        rows_from, frame, y = _rows(s, lineage, dataset, name)
        missing = [c for c in lineage.feature_columns if c not in frame.columns]
        if missing:
            raise GateInputError(
                f"dataset {rows_from!r} has no column {', '.join(missing)}, which {what} "
                "takes: pass a dataset saved from the model's features"
            )
        x = frame[list(lineage.feature_columns)]
        number = _register(
            client,
            tracking.experiment_id(client),
            name,
            original,
            lineage,
            model,
            compression,
            x.head(_SAMPLE_ROWS),
            kinds,
        )
        compressed = _load(client, name, number)
        task = lineage.task
        return CompressionReport(
            name=name,
            task=task,
            original=_figures(original, "original", task, x, y, latency_rows),
            compressed=_figures(compressed, compression, task, x, y, latency_rows),
            agreement=_agreement(task, original, compressed, x),
            rows_from=rows_from,
            dataset=rows_from if dataset is not None else None,
        )
