"""Which experiment a prediction server routes, and whether its arms can be served.

``skewless models serve NAME --experiment FILE|NAME`` names the experiment either by its file
(started in the registry, or found running there when it was started with the same spec) or
by the name of a running experiment record. Before a server takes a request it checks that
the experiment splits the model it serves, that the champion is the model it serves, and that
every arm's version exists and can be served (its lineage matches the registry); each problem
is one line naming the arm and how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.errors import (
    ExperimentInputError,
    ModelLineageError,
    RegistryConflictError,
    UnknownModelError,
)
from skewless.experiments.spec import load_experiment
from skewless.serving.model import check_servable
from skewless.serving.reference import ModelRef, parse_model_ref

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from skewless.experiments.records import ExperimentRecord, ExperimentStore
    from skewless.experiments.spec import ExperimentSpec
    from skewless.models.tracking import Tracking
    from skewless.models.versions import ModelVersionInfo

__all__ = ["EXPERIMENT_FILE_SUFFIXES", "arm_refs", "check_arms", "resolve_experiment"]

EXPERIMENT_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def _is_file(source: str) -> bool:
    path = Path(source)
    return path.is_file() or path.suffix.lower() in EXPERIMENT_FILE_SUFFIXES


def _start(experiments: ExperimentStore, spec: ExperimentSpec) -> ExperimentRecord:
    """Start ``spec`` (idempotent); another process starting it at the same moment is fine."""
    try:
        return experiments.start(spec)
    except RegistryConflictError:
        return experiments.start(spec)


def resolve_experiment(
    experiments: ExperimentStore,
    source: str,
    model: ModelRef,
    check: Callable[[ExperimentSpec], object] | None = None,
) -> ExperimentRecord:
    """The running experiment ``source`` names for ``model``; a file is started (when
    ``check`` passes) unless it runs already.

    Args:
        experiments: the project's experiment records.
        source: an experiment file (``.yaml``) or the name of a running experiment.
        model: the model the server serves.
        check: run on the spec before a file is started (e.g. :func:`check_arms`).

    Returns:
        The experiment's record.

    Raises:
        ExperimentInputError: the file is invalid (weights not summing to 1, ...), the
            experiment is stopped, splits another model, or its champion is not ``model``.
        UnknownObjectError: no experiment of that name.
    """
    if _is_file(source):
        spec = load_experiment(source)
        _check_model(spec, model)
        if check is not None:
            check(spec)
        return _start(experiments, spec)
    record = experiments.get(source)
    if record.status != "running":
        raise ExperimentInputError(
            f"experiment {record.name!r} is stopped ({record.stop_reason}): start a new "
            "experiment with `--experiment FILE` to route the model again"
        )
    _check_model(record.spec, model)
    if check is not None:
        check(record.spec)
    return record


def _check_model(spec: ExperimentSpec, model: ModelRef) -> None:
    if spec.model != model.name:
        raise ExperimentInputError(
            f"experiment {spec.name!r} splits model {spec.model!r} but this server serves "
            f"{model.name!r}: serve {spec.model!r} or give an experiment of {model.name!r}"
        )
    champion = spec.champion
    if str(_ref(spec, champion.name, champion.model)) != str(model):
        raise ExperimentInputError(
            f"the champion arm {champion.name!r} of experiment {spec.name!r} answers with "
            f"{champion.model} but this server serves {model}: serve {champion.model} "
            f"(`skewless models serve {champion.model} --experiment ...`) or make {model} "
            "the champion"
        )


def _ref(spec: ExperimentSpec, arm: str, text: str) -> ModelRef:
    try:
        return parse_model_ref(text)
    except UnknownModelError as exc:
        raise UnknownModelError(f"arm {arm!r} of experiment {spec.name!r}: {exc}") from None


def arm_refs(spec: ExperimentSpec) -> dict[str, ModelRef]:
    """Arm name -> the model reference it answers with.

    Raises:
        UnknownModelError: an arm's ``model`` is not ``NAME@ALIAS`` or ``NAME/VERSION``.
    """
    return {arm.name: _ref(spec, arm.name, arm.model) for arm in spec.arms}


def check_arms(
    tracking: Tracking,
    spec: ExperimentSpec,
    records: Mapping[Any, Any],
    history: Any = None,
) -> dict[str, ModelVersionInfo]:
    """The version each arm names now, each checked as a served model is (nothing loaded).

    Raises:
        UnknownModelError: an arm names a model, version or alias that does not exist.
        ModelLineageError: an arm's version has no lineage, or its definitions changed.
    """
    found: dict[str, ModelVersionInfo] = {}
    for name, ref in arm_refs(spec).items():
        try:
            found[name], _ = check_servable(tracking, ref, records, history)
        except (UnknownModelError, ModelLineageError) as exc:
            raise type(exc)(
                f"arm {name!r} of experiment {spec.name!r} ({ref}) cannot be served: {exc}"
            ) from None
    return found
