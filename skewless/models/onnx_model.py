"""A compressed model version: an ONNX graph run by onnxruntime, with a scikit-learn face.

A version logged by :func:`skewless.models.compress.compress_model` is an MLflow
``python_function`` model whose loader is this module: its artifact directory holds
``model.onnx`` (one float tensor input ``X``, the feature columns in lineage order, or one
input per column when a feature is a string) and ``skewless_onnx.json`` (the input columns and
their kinds, the task, the classes in the order of the probability columns, the compression).
``mlflow.pyfunc.load_model`` returns it like any other version; ``get_raw_model()`` gives the
:class:`OnnxRegressor` or :class:`OnnxClassifier` below, which answer ``predict`` (and
``predict_proba``, ``classes_``) as the original estimator did, so the gate, the prediction
server and batch inference call it the same way.

``pip install 'skewless[compress]'`` (onnxruntime is all loading needs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skewless.errors import ModelCompressionError

__all__ = [
    "COMPRESS_HINT",
    "LOADER_MODULE",
    "META_FILE",
    "MODEL_FILE",
    "OnnxClassifier",
    "OnnxRegressor",
    "load_onnx_predictor",
    "write_onnx_model",
]

LOADER_MODULE = "skewless.models.onnx_model"
"""The ``loader_module`` MLflow records for a compressed version."""
MODEL_FILE = "model.onnx"
META_FILE = "skewless_onnx.json"
INPUT_NAME = "X"
COMPRESS_HINT = "install it with: pip install 'skewless[compress]'"


def _session(model: bytes) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelCompressionError(
            f"serving an ONNX model version needs onnxruntime: {COMPRESS_HINT}"
        ) from None
    options = ort.SessionOptions()
    # One intra-op thread: a served request is a few rows, where a pool's wake-ups cost more
    # than they save, and a server already runs one worker per core.
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


class OnnxRegressor:
    """An ONNX model version predicting one value per row.

    Args:
        model: the serialized ONNX graph.
        meta: the contents of ``skewless_onnx.json``.

    Attributes:
        inputs: the input columns, in the order of the graph's input tensor.
        task: ``regressor`` or ``classifier``.
        compression: ``onnx`` or ``onnx-int8``.
    """

    def __init__(self, model: bytes, meta: dict[str, Any]) -> None:
        self._model = model
        self._meta = dict(meta)
        self.inputs: tuple[str, ...] = tuple(meta["inputs"])
        self.task: str = str(meta.get("task", "regressor"))
        self.compression: str = str(meta.get("compression", "onnx"))
        self._runner = _session(model)

    def __getstate__(self) -> dict[str, Any]:
        return {"model": self._model, "meta": self._meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["model"], state["meta"])  # type: ignore[misc]

    @property
    def n_features_in_(self) -> int:
        return len(self.inputs)

    def get_raw_model(self) -> OnnxRegressor:
        """Itself: what ``mlflow.pyfunc``'s ``get_raw_model()`` returns."""
        return self

    def _feed(self, x: Any) -> dict[str, np.ndarray]:
        """The graph's inputs from ``x``: a frame with the input columns, or a 2-D array (a
        row when 1-D) in their order."""
        kinds = self._meta.get("input_kinds")
        if not kinds:
            if hasattr(x, "columns"):
                x = x[list(self.inputs)].to_numpy(dtype=np.float32)
            matrix = np.ascontiguousarray(x, dtype=np.float32)
            return {INPUT_NAME: matrix.reshape(1, -1) if matrix.ndim == 1 else matrix}
        if not hasattr(x, "columns"):
            rows = np.asarray(x, dtype=object)
            rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
            columns = {c: rows[:, i] for i, c in enumerate(self.inputs)}
        else:
            columns = {c: x[c].to_numpy() for c in self.inputs}
        return {
            c: np.asarray(columns[c], dtype=object if kinds[c] == "string" else np.float32).reshape(
                -1, 1
            )
            for c in self.inputs
        }

    def _run(self, x: Any) -> list[Any]:
        return list(self._runner.run(None, self._feed(x)))

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """One prediction per row of ``model_input`` (``params`` is MLflow's, unused)."""
        value = np.asarray(self._run(model_input)[0])
        return value.reshape(-1) if value.ndim > 1 and value.shape[1] == 1 else value


class OnnxClassifier(OnnxRegressor):
    """An ONNX classifier version: labels, and probabilities in :attr:`classes_` order."""

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self._meta.get("classes") or [])

    def predict_with_probabilities(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, probabilities)`` from one run of the graph."""
        labels, probabilities = self._run(x)[:2]
        return np.asarray(labels).reshape(-1), np.asarray(probabilities, dtype=np.float64)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, one column per class of :attr:`classes_`."""
        return self.predict_with_probabilities(x)[1]

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.predict_with_probabilities(model_input)[0]


def write_onnx_model(
    directory: Path,
    model: bytes,
    *,
    inputs: Sequence[str],
    input_kinds: Mapping[str, str] | None = None,
    task: str,
    classes: Sequence[Any] | None,
    compression: str,
) -> Path:
    """Write ``model.onnx`` and ``skewless_onnx.json`` into ``directory`` (created); returns it.

    ``input_kinds`` (column -> ``float`` or ``string``) is given when the graph takes one
    input per column; without it the graph takes one float matrix ``X``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_bytes(model)
    meta = {
        "inputs": list(inputs),
        "input_kinds": dict(input_kinds) if input_kinds else None,
        "task": task,
        "classes": list(classes) if classes is not None else None,
        "compression": compression,
    }
    (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return directory


def load_onnx_predictor(path: str | Path) -> OnnxRegressor:
    """The predictor of the directory ``path`` that :func:`write_onnx_model` wrote.

    Raises:
        ModelCompressionError: onnxruntime is not installed, or the directory is not one.
    """
    root = Path(path)
    try:
        meta = json.loads((root / META_FILE).read_text(encoding="utf-8"))
        model = (root / MODEL_FILE).read_bytes()
    except (OSError, ValueError) as exc:
        raise ModelCompressionError(
            f"{root} is not a compressed model directory ({exc}): compress the version again "
            "with `skewless models compress`"
        ) from None
    kind = OnnxClassifier if meta.get("task") == "classifier" else OnnxRegressor
    return kind(model, meta)


def _load_pyfunc(path: str) -> OnnxRegressor:
    """MLflow's entry point for ``loader_module`` models."""
    return load_onnx_predictor(path)
