"""The built-in retraining pipeline: validate, build a training set, train, evaluate,
register, gate against the champion, roll out.

``retraining_pipeline(...)`` returns a :class:`~skewless.definitions.Pipeline` whose steps are
the functions of this module and the user's ``train`` function; everything it was given
becomes a param, so a run can override it (``--params rollout=register-only``). A failure
anywhere leaves the ``production`` alias as it was: only the last step, ``rollout``, moves it,
and only after the gate passed.

Steps, in order:

``validate_data``
    schema, nulls, ranges and freshness of the label source and of the feature service's
    sources (:mod:`skewless.pipelines.data_checks`).
``training_set``
    point-in-time features for the label rows, saved as a dataset and split by time into
    ``<name>_train`` and ``<name>_holdout``.
``train``
    the user's function: ``train(X, y, ...)`` returns a fitted model; its other parameters
    bind to params by name.
``evaluate``
    the model's metrics on the holdout rows.
``register``
    ``log_model``: a new version, with lineage and the evaluation metrics; no alias moves.
``gate``
    ``run_gate`` on the holdout against the ``production`` version; a failed gate fails
    the run.
``rollout``
    ``promote`` to production with the gate report (then watched), ``register-only``,
    ``canary`` (an experiment record moving traffic from the champion to the new version step
    by step) or ``experiment`` (an A/B split); the challenger of an experiment reaches
    production only when it wins (:mod:`skewless.pipelines.rollouts`).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.definitions import FileSource, Pipeline, Step
from skewless.errors import PipelineStepError, UnknownModelError, UnknownObjectError
from skewless.pipelines.data_checks import check_source, check_view, raise_problems, read_source
from skewless.pipelines.rollouts import DEFAULT_GUARDS

if TYPE_CHECKING:
    from skewless.models import Thresholds
    from skewless.pipelines.execution import RunInfo
    from skewless.store import FeatureStore

__all__ = [
    "ROLLOUTS",
    "TrainingSet",
    "check_inputs",
    "evaluate",
    "gate",
    "register",
    "retraining_pipeline",
    "rollout",
    "training_set",
    "validate_data",
]

ROLLOUTS = ("promote", "register-only", "canary", "experiment")
DEFAULT_CANARY = ("10% for 5m", "50% for 5m", "100%")
_X_NAMES = ("X", "x", "features")
_Y_NAMES = ("y", "labels")


@dataclass(frozen=True)
class TrainingSet:
    """The output of ``training_set``: the saved datasets and the training rows.

    Attributes:
        dataset: the whole saved dataset; train and holdout: its two sides by time.
        label: the label column.
        X: the training side's feature columns; y: its labels.
    """

    dataset: str
    train: str
    holdout: str
    label: str
    X: Any
    y: Any


def _label_source(source: FileSource | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(source, FileSource):
        return {"path": source.path, "timestamp_field": source.timestamp_field}
    if isinstance(source, str):
        return {"path": source, "timestamp_field": "event_timestamp"}
    return {"path": source["path"], "timestamp_field": source.get("timestamp_field",
            "event_timestamp")}  # fmt: skip


def _label_file(label_source: Mapping[str, Any]) -> FileSource:
    return FileSource(path=label_source["path"], timestamp_field=label_source["timestamp_field"])


def _join_keys(store: FeatureStore, feature_service: str) -> list[str]:
    service = store.get_feature_service(feature_service)
    keys: list[str] = []
    for projection in service.projections:
        views = store.snapshot().feature_views
        if projection.view_name in views:
            keys += [k for k in views[projection.view_name].join_keys if k not in keys]
    return keys


def check_inputs(
    store: FeatureStore, model: str, feature_service: str, allow_new_model: bool
) -> None:
    """Refuse a run whose feature service is not registered, or whose model has no version
    in MLflow (unless ``allow_new_model``)."""
    try:
        store.get_feature_service(feature_service)
    except UnknownObjectError as exc:
        raise UnknownObjectError(f"{exc}; fix feature_service= in the pipeline") from None
    if allow_new_model:
        return
    from skewless.models import list_model_versions

    try:
        found = list_model_versions(model, store)
    except UnknownModelError:
        found = []
    if not found:
        raise UnknownModelError(
            f"model {model!r} has no registered version to retrain: fix model=, or pass "
            "allow_new_model=True to train its first version"
        )


def validate_data(
    store: FeatureStore,
    feature_service: str,
    label_source: dict[str, Any],
    label: str,
    max_null_fraction: float | None,
    ranges: dict[str, list[float | None]],
    max_age_s: float | None,
) -> dict[str, Any]:
    """Check the label source and the feature sources; a summary of each."""
    now = store.now()
    keys = _join_keys(store, feature_service)
    source = _label_file(label_source)
    table = read_source(source, Path(store.repo_path), None)
    summary, problems = check_source(
        f"label source {source.path!r}",
        table,
        timestamp_field=source.timestamp_field,
        required=[*keys, label],
        not_null=[*keys, label],
        max_null_fraction=max_null_fraction,
        ranges=ranges,
        max_age_s=max_age_s,
        now=now,
    )
    summaries = {"labels": summary}
    service = store.get_feature_service(feature_service)
    for projection in service.projections:
        view = store.snapshot().feature_views.get(projection.view_name)
        if view is None:
            continue  # an on-demand view: computed, nothing stored to check
        found, more = check_view(
            view,
            store.offline_engine,
            Path(store.repo_path),
            max_null_fraction=max_null_fraction,
            ranges=ranges,
            max_age_s=max_age_s,
            now=now,
        )
        summaries[view.name] = found
        problems += more
    raise_problems(problems)
    return summaries


def _free_name(store: FeatureStore, base: str) -> str:
    names = {d.name for d in store.list_datasets()}
    candidate, n = base, 1
    while {candidate, f"{candidate}_train", f"{candidate}_holdout"} & names:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def training_set(
    store: FeatureStore,
    validate_data: dict[str, Any],
    model: str,
    feature_service: str,
    label_source: dict[str, Any],
    label: str,
    split: float,
    run: RunInfo,
) -> TrainingSet:
    """Point-in-time features of the label rows, saved and split by time at the ``split``
    quantile of their timestamps."""
    import pyarrow.compute as pc

    from skewless._time import from_micros
    from skewless.models import training_data

    if not 0.0 < split < 1.0:
        raise PipelineStepError(f"split={split!r} must be a fraction between 0 and 1, e.g. 0.8")
    source = _label_file(label_source)
    keys = _join_keys(store, feature_service)
    labels = read_source(source, Path(store.repo_path), [*keys, source.timestamp_field, label])
    if source.timestamp_field != "event_timestamp":
        names = [
            "event_timestamp" if c == source.timestamp_field else c for c in labels.column_names
        ]
        labels = labels.rename_columns(names)
    name = _free_name(store, f"{model}-{run.run_id}")
    job = store.get_historical_features(labels, store.get_feature_service(feature_service))
    saved = job.save_dataset(name, description=f"pipeline {run.pipeline} run {run.run_id}")
    times = pc.cast(saved.to_arrow().column("event_timestamp"), "int64")
    cut_us = pc.quantile(times, q=split, interpolation="higher")[0].as_py()
    train, holdout = store.split_dataset(saved.name, from_micros(int(cut_us)))
    x, y = training_data(train.name, store, label)
    return TrainingSet(saved.name, train.name, holdout.name, label, x, y)


def evaluate(store: FeatureStore, train: Any, training_set: TrainingSet) -> dict[str, float]:
    """The model's quality metrics on the holdout rows."""
    import numpy as np

    from skewless.models import training_data
    from skewless.models.metrics import classification_metrics, regression_metrics
    from skewless.models.training import model_task

    x, y = training_data(training_set.holdout, store, training_set.label)
    pred = np.asarray(train.predict(x))
    if model_task(train, y) == "classifier":
        proba = train.predict_proba(x) if hasattr(train, "predict_proba") else None
        found = classification_metrics(np.asarray(y), pred, proba, getattr(train, "classes_", None))
    else:
        found = regression_metrics(np.asarray(y, dtype=np.float64), pred)
    return {f"holdout_{k}": float(v) for k, v in found.items() if v is not None}


def register(
    store: FeatureStore,
    model: str,
    feature_service: str,
    train: Any,
    training_set: TrainingSet,
    evaluate: dict[str, float],
    run: RunInfo,
) -> int:
    """Log the model as a new version (no alias moves); its version number."""
    from skewless.models import log_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = log_model(
            train,
            model,
            dataset=training_set.train,
            feature_service=feature_service,
            store=store,
            label=training_set.label,
            metrics=evaluate,
            params={"pipeline": run.pipeline, "pipeline_run": run.run_id},
        )
    return info.version


def gate(
    store: FeatureStore, model: str, register: int, training_set: TrainingSet, thresholds: dict
) -> dict[str, Any]:
    """``run_gate`` on the holdout against the champion; the report, or a failure."""
    from skewless.models import Thresholds, run_gate

    limits = Thresholds(**{"baseline": "production", **thresholds})
    report = run_gate(model, training_set.holdout, version=register, thresholds=limits, store=store)
    if not report.passed:
        failed = "; ".join(
            f"{c.name} {c.value if c.value is None else round(c.value, 4)} {c.op} {c.threshold}"
            for c in report.checks
            if not c.passed
        )
        from skewless.models.tracking import tracking_for
        from skewless.pipelines.rollouts import set_outcome

        set_outcome(tracking_for(store.config), model, register, f"kept: gate failed: {failed}")
        raise PipelineStepError(
            f"gate failed for model {model!r} version {register}: {failed}; production is unchanged"
        )
    return report.to_dict()


def rollout(
    store: FeatureStore,
    model: str,
    register: int,
    gate: dict[str, Any],
    training_set: TrainingSet,
    thresholds: dict[str, Any],
    rollout_mode: str,
    canary_steps: list[str],
    experiment_share: float,
    experiment_max: str | float,
    watch: str | float,
    watch_guards: dict[str, Any],
    run: RunInfo,
) -> dict[str, Any]:
    """Promote (then watch), leave registered, or start an experiment whose challenger the
    worker promotes only when it wins (see :mod:`skewless.pipelines.rollouts`); what was done."""
    from skewless.models.tracking import tracking_for
    from skewless.pipelines.rollouts import Rollout, RolloutStore, set_outcome, start_challenger

    mode = rollout_mode
    if mode not in ROLLOUTS:
        raise PipelineStepError(f"rollout={mode!r} is unknown: use one of {', '.join(ROLLOUTS)}")
    if mode == "register-only":
        set_outcome(tracking_for(store.config), model, register, "kept: rollout register-only")
        return {"rollout": mode, "version": register}
    opened = Rollout(
        run_id=run.run_id, pipeline=run.pipeline, model=model, version=register,
        phase="experiment", opened_at=store.now(), holdout=training_set.holdout,
        thresholds=dict(thresholds), experiment_max_s=_seconds(experiment_max, "experiment_max"),
        watch_s=_seconds(watch, "watch"), guards=dict(watch_guards or {}),
    )  # fmt: skip
    if mode == "promote":
        from skewless.models import promote

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            done = promote(model, register, "production", store=store, gate_report=gate)
        set_outcome(tracking_for(store.config), model, register, "promoted: the gate passed")
        if opened.watch_s > 0:
            RolloutStore(store.registry).open(replace(opened, phase="watching",
                previous=done.archived, promoted_at=store.now()))  # fmt: skip
        return {"rollout": mode, "version": done.version, "archived": done.archived}
    steps = list(canary_steps) if mode == "canary" else None
    name, previous = start_challenger(store, model, register, run.run_id, steps, experiment_share)
    RolloutStore(store.registry).open(replace(opened, experiment=name, previous=previous))
    return {"rollout": mode, "version": register, "experiment": name}


def _seconds(value: str | float, name: str) -> float:
    from skewless.config import parse_duration

    try:
        found = parse_duration(value)
    except ValueError:
        found = None
    if found is None or found.total_seconds() < 0:
        raise PipelineStepError(f"{name}={value!r} is not a duration: write e.g. 1d, 12h or 0s")
    return float(found.total_seconds())


def _steps(train: Callable[..., Any], retries: int) -> list[Step]:
    return [
        Step("validate_data", validate_data, cache=False),
        Step("training_set", training_set),
        Step("train", train, inputs=_inputs_of(train), retries=retries),
        Step("evaluate", evaluate),
        Step("register", register),
        Step("gate", gate, cache=False),
        Step("rollout", rollout, cache=False),
    ]


def _inputs_of(train: Callable[..., Any]) -> dict[str, str]:
    parameters = inspect.signature(train).parameters
    inputs: dict[str, str] = {}
    for name in parameters:
        if name in _X_NAMES:
            inputs[name] = "training_set.X"
        elif name in _Y_NAMES:
            inputs[name] = "training_set.y"
    return inputs


def retraining_pipeline(
    *,
    model: str,
    feature_service: str,
    label_source: FileSource | str | Mapping[str, Any],
    train: Callable[..., Any],
    label: str,
    split: float = 0.8,
    gate: Thresholds | Mapping[str, Any] | None = None,
    rollout: str = "promote",
    canary_steps: Sequence[str] = DEFAULT_CANARY,
    experiment_share: float = 0.5,
    experiment_max: str = "14d",
    watch: str = "1d",
    watch_guards: Mapping[str, Any] | None = None,
    max_null_fraction: float | None = None,
    ranges: Mapping[str, Sequence[float | None]] | None = None,
    max_age_s: float | None = None,
    allow_new_model: bool = False,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    train_retries: int = 0,
    description: str = "",
) -> Pipeline:
    """The retraining pipeline of ``model`` (see the module docstring for its steps).

    Args:
        model: the registered model to retrain.
        feature_service: the feature service it is trained and served through.
        label_source: a file source (or path) of entity keys, ``event_timestamp`` and the
            label column.
        train: ``train(X, y, ...)`` returning a fitted model; parameters besides ``X``/``y``
            bind to ``params`` by name.
        label: the label column of ``label_source``.
        split: the share of rows, earliest first, trained on; the rest is the holdout.
        gate: the gate's thresholds; its baseline is ``production`` unless given.
        rollout: ``promote``, ``register-only``, ``canary`` or ``experiment``.
        canary_steps: the canary's steps, e.g. ``["10% for 5m", "100%"]``.
        experiment_share: the challenger's share of traffic in an ``experiment`` rollout.
        experiment_max: how long an experiment may run without a significant win before
            the challenger is kept out of production.
        watch: the watch window after a promotion (``0s``: not watched).
        watch_guards: the watch's limits: ``max_p99_ms``, ``max_missing_rate``,
            ``min_labels`` (of a performance drop against the gate-time metrics).
        max_null_fraction, ranges, max_age_s: data checks (None: not checked).
        allow_new_model: run even though ``model`` has no version yet.
        params: more params, for ``train``'s own parameters.
        name: the pipeline's name (default ``<model>_retraining``).
        train_retries: retries of the ``train`` step.

    Raises:
        DefinitionError: ``rollout`` is unknown, or ``train`` is not a module-level function.
    """
    from dataclasses import is_dataclass

    from skewless.errors import DefinitionError

    if rollout not in ROLLOUTS:
        raise DefinitionError(f"rollout={rollout!r} is unknown: use one of {', '.join(ROLLOUTS)}")
    limits: dict[str, Any] = {}
    if gate is not None:
        raw = asdict(gate) if is_dataclass(gate) else dict(gate)
        limits = {k: v for k, v in raw.items() if v is not None}
    values: dict[str, Any] = {
        "model": model,
        "feature_service": feature_service,
        "label_source": _label_source(label_source),
        "label": label,
        "split": split,
        "thresholds": limits,
        "rollout_mode": rollout,
        "canary_steps": list(canary_steps),
        "experiment_share": experiment_share,
        "experiment_max": experiment_max,
        "watch": watch,
        "watch_guards": {**DEFAULT_GUARDS, **dict(watch_guards or {})},
        "max_null_fraction": max_null_fraction,
        "ranges": {k: list(v) for k, v in (ranges or {}).items()},
        "max_age_s": max_age_s,
        "allow_new_model": allow_new_model,
        **dict(params or {}),
    }
    return Pipeline(
        name or f"{model}_retraining",
        steps=_steps(train, train_retries),
        params=values,
        check=check_inputs,
        description=description or f"retrain model {model!r} on fresh labels",
    )
