"""Log a trained model to MLflow with its lineage: ``log_model`` and ``training_data``.

A scikit-learn estimator is logged with MLflow's ``sklearn`` flavor (cloudpickle format, which
stores tree ensembles as they are); anything else with a ``predict`` method is wrapped in a
``pyfunc`` model. Either way ``mlflow.pyfunc.load_model`` loads it. The signature is inferred
from the dataset's feature columns, in the order of its feature refs.
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skewless.errors import GateInputError, ModelRegistryError
from skewless.models.lineage import Lineage, feature_columns, infer_label
from skewless.models.registry import ModelVersionInfo, resolve_store
from skewless.models.tracking import tracking_for

if TYPE_CHECKING:
    import pandas as pd

    from skewless.datasets import SavedDataset
    from skewless.store import FeatureStore

__all__ = ["log_model", "model_task", "training_data"]

_SAMPLE_ROWS = 20


def _join_keys(store: FeatureStore) -> list[str]:
    return [k for e in store.list_entities() for k in e.join_keys]


def training_data(
    dataset: str, store: FeatureStore | None = None, label: str | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """``(X, y)`` of a saved dataset: the feature columns in ref order, and the label.

    Example:
        >>> X, y = training_data("churn_train", store)  # doctest: +SKIP
        >>> model = HistGradientBoostingClassifier().fit(X, y)  # doctest: +SKIP
    """
    s = resolve_store(store)
    saved = s.get_dataset(dataset)
    target = infer_label(saved, label, _join_keys(s))
    frame = saved.to_df()
    return frame[feature_columns(saved)], frame[target]


def _is_sklearn(model: Any) -> bool:
    if not type(model).__module__.startswith("sklearn"):
        try:
            from sklearn.base import BaseEstimator
        except ImportError:
            return False
        return isinstance(model, BaseEstimator)
    return True


def model_task(model: Any, y: Any = None) -> str:
    """``classifier`` or ``regressor``: scikit-learn's own tag, else ``predict_proba``, else
    the label values (few distinct integers or booleans mean classes)."""
    kind = getattr(model, "_estimator_type", None)
    if kind is None and _is_sklearn(model):
        from sklearn.base import is_classifier, is_regressor

        kind = (
            "classifier" if is_classifier(model) else "regressor" if is_regressor(model) else None
        )
    if kind in ("classifier", "regressor"):
        return str(kind)
    if hasattr(model, "predict_proba"):
        return "classifier"
    if y is not None:
        import numpy as np

        values = np.asarray(y)
        if values.dtype.kind in "biuO" and len(np.unique(values)) <= 20:
            return "classifier"
    return "regressor"


def _requirements(*packages: str) -> list[str]:
    out = []
    for package in packages:
        try:
            out.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _check_inputs(model: Any, columns: list[str], dataset: SavedDataset) -> None:
    names = getattr(model, "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != columns:
        raise GateInputError(
            f"the model was fit on columns {[str(n) for n in names]} but dataset "
            f"{dataset.name!r} has the features {columns}: fit it on "
            "skewless.models.training_data(dataset)[0]"
        )
    width = getattr(model, "n_features_in_", None)
    if names is None and width is not None and int(width) != len(columns):
        raise GateInputError(
            f"the model takes {width} features but dataset {dataset.name!r} has "
            f"{len(columns)}: fit it on skewless.models.training_data(dataset)[0]"
        )


def log_model(
    model: Any,
    name: str,
    *,
    dataset: str,
    feature_service: str | None = None,
    store: FeatureStore | None = None,
    label: str | None = None,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    task: str | None = None,
) -> ModelVersionInfo:
    """Log ``model`` to MLflow, register it as a new version of ``name``, with lineage.

    Args:
        model: a fitted scikit-learn estimator, an ``mlflow.pyfunc.PythonModel``, or any
            object with ``predict(DataFrame)``.
        name: the registered model's name.
        dataset: the saved dataset the model was trained on.
        feature_service: the feature service the model serves through (default: the
            dataset's).
        store: the feature store (default: the repository in the working directory).
        label: the target column (default: the dataset's one non-feature column).
        metrics: training metrics to record on the run.
        params: hyper-parameters to record on the run.
        task: ``classifier`` or ``regressor`` (default: detected).

    Returns:
        The registered version, with its lineage tags.

    Raises:
        UnknownObjectError: no such dataset (or feature service).
        GateInputError: the model's inputs do not match the dataset's features.
        ModelRegistryError: MLflow is missing, or the tracking server cannot be reached.

    Example:
        >>> X, y = training_data("churn_train", store)  # doctest: +SKIP
        >>> model = model.fit(X, y)  # doctest: +SKIP
        >>> v = log_model(model, "churn", dataset="churn_train", store=store)  # doctest: +SKIP
        >>> v.version, v.lineage.feature_refs  # doctest: +SKIP
    """
    s = resolve_store(store)
    saved = s.get_dataset(dataset)
    service = feature_service or saved.feature_service
    if feature_service is not None:
        s.get_feature_service(feature_service)
    columns = feature_columns(saved)
    target = infer_label(saved, label, _join_keys(s))
    _check_inputs(model, columns, saved)
    if task is not None and task not in ("classifier", "regressor"):
        raise GateInputError(f"task {task!r} is not classifier or regressor")
    sample = saved.to_arrow().slice(0, _SAMPLE_ROWS).to_pandas()
    lineage = Lineage(
        dataset=saved.name,
        dataset_fingerprint=saved.entity_fingerprint,
        feature_refs=tuple(saved.feature_refs),
        feature_columns=tuple(columns),
        feature_service=service,
        feature_versions=dict(saved.feature_versions),
        label=target,
        task=task or model_task(model, sample[target]),
        project=s.project,
    )
    tracking = tracking_for(s.config)
    with tracking.active() as client:
        return _log(
            client, tracking.experiment_id(client), model, name, lineage, sample, metrics, params
        )


def _log(
    client: Any,
    experiment_id: str,
    model: Any,
    name: str,
    lineage: Lineage,
    sample: pd.DataFrame,
    metrics: Mapping[str, float] | None,
    params: Mapping[str, Any] | None,
) -> ModelVersionInfo:
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    x = lineage.frame(sample)
    try:
        if isinstance(model, mlflow.pyfunc.PythonModel):
            output = model.predict(None, x)
        else:
            output = model.predict(x)
    except Exception as exc:
        raise GateInputError(
            f"the model cannot predict on the dataset's features {list(x.columns)}: {exc}"
        ) from None
    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold nulls: the features keep their types.
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(x, output)
    tags = lineage.to_tags()
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        if params:
            mlflow.log_params(dict(params))
        if metrics:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        if _is_sklearn(model):
            import mlflow.sklearn

            # cloudpickle keeps any estimator loadable (skops refuses tree ensembles unless
            # each type is trusted by name); MLflow's warning about it is for foreign files.
            logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                serialization_format="cloudpickle",
                pip_requirements=_requirements("scikit-learn", "cloudpickle", "pandas", "numpy"),
            )
        else:
            from skewless.models._pyfunc import as_python_model

            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=as_python_model(model),
                signature=signature,
                pip_requirements=_requirements("cloudpickle", "pandas", "numpy"),
            )
        run_id = run.info.run_id
    try:
        mv = mlflow.register_model(info.model_uri, name, tags=tags)
    except Exception as exc:
        raise ModelRegistryError(f"cannot register model {name!r}: {exc}") from None
    mv = client.get_model_version(name, mv.version)
    if not mv.run_id:
        mv.run_id = run_id  # pragma: no cover
    return ModelVersionInfo.from_mlflow(mv)
