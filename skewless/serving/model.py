"""The model a prediction server holds: one registered version, loaded, with its lineage.

:func:`load_served_model` resolves a :class:`~skewless.serving.reference.ModelRef` on MLflow,
loads the version as ``mlflow.pyfunc`` (what ``skewless.models.load_model`` returns), and
checks that every feature view the model was trained on still has the definition recorded in
its lineage (:func:`check_lineage`): a model is never fed values of a changed definition.
A compressed version (``skewless models compress``) is an ONNX graph run by onnxruntime
(:mod:`skewless.models.onnx_model`), answering the same predictions and probabilities.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skewless.errors import ModelLineageError, ModelPredictionError
from skewless.models.lineage import Lineage
from skewless.models.onnx_model import LOADER_MODULE as ONNX_LOADER
from skewless.models.versions import ModelVersionInfo, get_version_info, load_version
from skewless.serving.reference import ModelRef

if TYPE_CHECKING:
    import pandas as pd

    from skewless.models.tracking import Tracking
    from skewless.registry.records import ObjectRecord, ObjectVersion

__all__ = [
    "ServedModel",
    "check_lineage",
    "check_servable",
    "load_served_model",
    "resolve_version",
]

_VIEW_KINDS = ("feature_view", "on_demand_feature_view")


@dataclass(frozen=True)
class ServedModel:
    """A loaded model version.

    Attributes:
        ref: what was asked for (an alias is followed when it moves).
        info: the registered version.
        lineage: what it was trained on.
        model: the ``mlflow.pyfunc`` model.
    """

    ref: ModelRef
    info: ModelVersionInfo
    lineage: Lineage
    model: Any

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def is_classifier(self) -> bool:
        return self.lineage.task == "classifier"

    def describe(self) -> dict[str, Any]:
        """Name, version, aliases and lineage, as ``GET /model`` answers them."""
        lineage = self.lineage
        return {
            "name": self.name,
            "version": str(self.version),
            "requested": str(self.ref),
            "aliases": list(self.info.aliases),
            "run_id": self.info.run_id,
            "task": lineage.task,
            "lineage": {
                "dataset": lineage.dataset,
                "dataset_fingerprint": lineage.dataset_fingerprint,
                "feature_service": lineage.feature_service,
                "feature_refs": list(lineage.feature_refs),
                "feature_columns": list(lineage.feature_columns),
                "feature_versions": dict(lineage.feature_versions),
                "label": lineage.label,
                "project": lineage.project,
            },
        }

    def predict(self, frame: pd.DataFrame) -> tuple[list[Any], list[list[float]] | None]:
        """``(predictions, probabilities)`` for the rows of ``frame`` (the model's input
        columns, in order). Predictions are what the ``pyfunc`` model returns; probabilities
        come from the underlying estimator's ``predict_proba`` when it has one.

        Raises:
            ModelPredictionError: the model raised.
        """
        try:
            predictor, inputs = self._predictor, frame
            split = self._pipeline_split
            if split is not None:  # transform once for predict and predict_proba
                head, predictor = split
                inputs = head.transform(frame)
            probabilities: list[list[float]] | None
            both = getattr(predictor, "predict_with_probabilities", None)
            if self.is_classifier and both is not None:  # an ONNX version: one run, both
                labels, proba = both(inputs)
                predictions, probabilities = _as_list(labels), proba.tolist()
            elif self.is_classifier and _predicts_argmax(predictor):
                predictions, probabilities = _from_probabilities(predictor, inputs)
            else:
                predictions = _as_list(predictor.predict(inputs))
                probabilities = self._probabilities(predictor, inputs)
        except Exception as exc:
            raise ModelPredictionError(
                f"model {self.name!r} version {self.version} failed to predict: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if len(predictions) != len(frame):
            raise ModelPredictionError(
                f"model {self.name!r} version {self.version} returned {len(predictions)} "
                f"predictions for {len(frame)} rows"
            )
        return predictions, probabilities

    @functools.cached_property
    def _predictor(self) -> Any:
        """What ``predict`` is called on: for a scikit-learn model, the estimator itself
        (MLflow's ``pyfunc`` wrapper calls exactly its ``predict`` after checking the input
        against the signature, a check that costs more than a small model's prediction and
        that the features, read with their declared types, pass by construction); for a
        compressed version, its onnxruntime predictor, likewise; for any other flavor, the
        ``pyfunc`` model."""
        flavors = getattr(getattr(self.model, "metadata", None), "flavors", None) or {}
        loader = flavors.get("python_function", {}).get("loader_module")
        if loader in ("mlflow.sklearn", ONNX_LOADER) and hasattr(self._raw, "predict"):
            return self._raw
        return self.model

    @functools.cached_property
    def _raw(self) -> Any:
        return _estimator(self.model)

    @functools.cached_property
    def _pipeline_split(self) -> tuple[Any, Any] | None:
        """``(transforms, final estimator)`` of a scikit-learn ``Pipeline`` classifier, whose
        ``predict`` and ``predict_proba`` would each run the transforms again; None for
        anything else."""
        if self._predictor is self.model or not self.is_classifier:
            return None
        try:
            from sklearn.pipeline import Pipeline
        except ImportError:  # pragma: no cover - a scikit-learn model implies scikit-learn
            return None
        raw = self._raw
        if not isinstance(raw, Pipeline) or len(raw.steps) < 2:
            return None
        final = raw.steps[-1][1]
        if not (hasattr(final, "predict") and hasattr(final, "predict_proba")):
            return None
        return raw[:-1], final

    def _probabilities(self, predictor: Any, inputs: Any) -> list[list[float]] | None:
        if not self.is_classifier:
            return None
        estimator = self._raw if predictor is self.model else predictor
        proba = getattr(estimator, "predict_proba", None)
        if proba is None:
            return None
        return [[float(p) for p in row] for row in proba(inputs)]

    @property
    def classes(self) -> list[Any] | None:
        """The classes, in the order of each probability row (None for a regressor)."""
        classes = getattr(self._raw, "classes_", None)
        return None if classes is None else _as_list(classes)


ARGMAX_CLASSIFIERS = frozenset(
    {
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
        "ExtraTreesClassifier",
        "GradientBoostingClassifier",
        "HistGradientBoostingClassifier",
        "LogisticRegression",
        "RandomForestClassifier",
    }
)
"""scikit-learn classifiers whose ``predict`` is the class of highest ``predict_proba`` (their
probabilities are a monotone function of the scores ``predict`` thresholds): one
``predict_proba`` call answers both."""
_TIE = 1e-9


def _predicts_argmax(estimator: Any) -> bool:
    kind = type(estimator)
    return kind.__module__.startswith("sklearn.") and kind.__name__ in ARGMAX_CLASSIFIERS


def _take(inputs: Any, rows: Any) -> Any:
    return inputs.iloc[rows] if hasattr(inputs, "iloc") else inputs[rows]


def _from_probabilities(estimator: Any, inputs: Any) -> tuple[list[Any], list[list[float]]]:
    """Predictions and probabilities from one ``predict_proba`` call. Where the two most
    likely classes are within rounding of each other, the estimator's own ``predict`` decides
    (a threshold on its raw score may fall on the other side of an exact tie)."""
    import numpy as np

    proba = np.asarray(estimator.predict_proba(inputs), dtype=np.float64)
    predicted = np.asarray(estimator.classes_)[proba.argmax(axis=1)]
    if proba.shape[1] > 1:
        top_two = np.partition(proba, proba.shape[1] - 2, axis=1)[:, -2:]
        close = np.flatnonzero(top_two[:, 1] - top_two[:, 0] <= _TIE)
        if close.size:
            predicted = predicted.copy()
            predicted[close] = np.asarray(estimator.predict(_take(inputs, close)))
    return _as_list(predicted), proba.tolist()


def _estimator(model: Any) -> Any:
    """The object under an ``mlflow.pyfunc`` model: the estimator, or a wrapped predictor."""
    raw = model
    getter = getattr(model, "get_raw_model", None)
    if getter is not None:
        try:
            raw = getter()
        except Exception:
            raw = model
    return getattr(raw, "model", raw)  # skewless' PredictorModel wraps the user's object


def _as_list(values: Any) -> list[Any]:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    if hasattr(values, "ndim") and getattr(values, "ndim", 1) > 1 and values.shape[1] == 1:
        values = values[:, 0]
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return list(values)


def _hash_version(history: Sequence[ObjectVersion], digest: str) -> str:
    for entry in history:
        if entry.hash == digest and not entry.removed:
            return f"version {entry.version}, {digest[:12]}"
    return digest[:12]


def check_lineage(
    name: str,
    version: int,
    lineage: Lineage,
    records: Mapping[Any, ObjectRecord],
    history: Any = None,
) -> None:
    """Refuse a model whose training definitions are not the registry's current ones.

    Args:
        records: the registry's current objects, ``(kind, name) -> record``.
        history: ``registry.history`` (to name the trained-on version by number), optional.

    Raises:
        ModelLineageError: a view the model uses was changed or removed, naming the view, the
            definition the model was trained on and the registry's current one.
    """
    problems = []
    for view, digest in sorted(lineage.feature_versions.items()):
        current = next(
            (records[(kind, view)] for kind in _VIEW_KINDS if (kind, view) in records), None
        )
        if current is not None and current.hash == digest:
            continue
        trained = digest[:12]
        if history is not None:
            try:
                trained = _hash_version(history(view), digest)
            except Exception:
                trained = digest[:12]
        if current is None:
            problems.append(f"view {view!r} (trained on {trained}) is no longer in the registry")
        else:
            problems.append(
                f"view {view!r} was trained on definition {trained} but the registry has "
                f"version {current.version}, {current.hash[:12]}"
            )
    if problems:
        raise ModelLineageError(
            f"model {name!r} version {version} cannot be served: "
            + "; ".join(problems)
            + ". Retrain it on the current definitions and log it again, or apply the "
            "definitions it was trained on"
        )


def resolve_version(tracking: Tracking, ref: ModelRef) -> ModelVersionInfo:
    """The version ``ref`` names now (an alias resolved on MLflow)."""
    return get_version_info(tracking, ref.name, ref.version)


_LOAD_LOCK = threading.Lock()  # MLflow's URIs are process-wide state while a client is active


def load_served_model(
    tracking: Tracking,
    ref: ModelRef,
    records: Mapping[Any, ObjectRecord],
    history: Any = None,
    info: ModelVersionInfo | None = None,
) -> ServedModel:
    """Resolve ``ref``, check its lineage against ``records``, and load it.

    Raises:
        UnknownModelError: no such model, version or alias.
        ModelLineageError: the version has no lineage, or its definitions changed.
    """
    with _LOAD_LOCK:
        found, lineage = check_servable(tracking, ref, records, history, info)
        model = load_version(tracking, found.name, found.version)
    return ServedModel(ref=ref, info=found, lineage=lineage, model=model)


def check_servable(
    tracking: Tracking,
    ref: ModelRef,
    records: Mapping[Any, ObjectRecord],
    history: Any = None,
    info: ModelVersionInfo | None = None,
) -> tuple[ModelVersionInfo, Lineage]:
    """The version ``ref`` names and its lineage, checked against ``records`` (nothing is
    loaded): what a server checks before it starts.

    Raises:
        UnknownModelError: no such model, version or alias.
        ModelLineageError: the version has no lineage, or its definitions changed.
    """
    found = info or resolve_version(tracking, ref)
    if found.lineage is None:
        raise ModelLineageError(
            f"model {found.name!r} version {found.version} carries no skewless lineage, so "
            "the server cannot know which features to fetch: log it with "
            "skewless.models.log_model(model, NAME, dataset=DATASET, store=store)"
        )
    check_lineage(found.name, found.version, found.lineage, records, history)
    return found, found.lineage
