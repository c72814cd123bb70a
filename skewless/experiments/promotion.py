"""Promoting an experiment's winner: the existing gate on a held-out dataset, then ``promote``
to the champion's alias with that gate report, then the experiment stopped with its winner.

A gate that fails changes no alias: the experiment records the refusal (decision
``promotion-refused``) and keeps running. A promotion that succeeds stops a running experiment
(its winner recorded) and records the decision ``promote`` with the version, the alias, the
version it replaced and the gate report's digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from skewless.errors import ExperimentInputError, UnknownModelError
from skewless.experiments.analysis_results import ExperimentAnalysis
from skewless.experiments.records import ExperimentStore
from skewless.experiments.spec import Arm

if TYPE_CHECKING:
    from skewless.models import GateReport, PromotionResult, Thresholds
    from skewless.store import FeatureStore

__all__ = ["WinnerPromotion", "model_reference", "promote_winner"]


def model_reference(text: str) -> tuple[str, str | int]:
    """An arm's model as (registered model, version number or alias).

    >>> model_reference("churn/4"), model_reference("churn@production"), model_reference("churn")
    (('churn', 4), ('churn', 'production'), ('churn', 'production'))

    Raises:
        ExperimentInputError: not ``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS``.
    """
    name, version = text, "production"
    if "@" in text:
        name, version = text.split("@", 1)
    elif "/" in text:
        name, number = text.rsplit("/", 1)
        if not number.isdigit():
            raise ExperimentInputError(
                f"arm model {text!r} is not NAME/VERSION (a version number, e.g. churn/4) or "
                "NAME@ALIAS (e.g. churn@production)"
            )
        return name, int(number)
    if not name or not version:
        raise ExperimentInputError(
            f"arm model {text!r} is not NAME, NAME/VERSION or NAME@ALIAS (e.g. churn@production)"
        )
    return name, version


@dataclass(frozen=True)
class WinnerPromotion:
    """What promoting a winner did.

    Attributes:
        arm: the winning arm.
        model, version: the registered model and the version gated.
        alias: the alias it was promoted to (or would have been).
        previous: the version that held the alias before (None: none did).
        gate: the gate's report.
        promoted: the promotion, or None when the gate failed and nothing changed.
    """

    arm: str
    model: str
    version: int
    alias: str
    previous: int | None
    gate: GateReport
    promoted: PromotionResult | None


def _version_of(arm: Arm, logged: tuple[int, ...], store: FeatureStore) -> tuple[str, int]:
    from skewless.models import get_model_version

    name, ref = model_reference(arm.model)
    if len(logged) > 1:
        shown = ", ".join(str(v) for v in logged)
        raise ExperimentInputError(
            f"arm {arm.name!r} was answered by versions {shown} of {name!r}: its alias moved "
            "during the experiment, so the winning version is not one; promote it by hand "
            "(`skewless models promote`)"
        )
    if logged:
        return name, logged[0]
    return name, get_model_version(name, ref, store).version


def _target(champion: Arm, to: str | None) -> tuple[str, str]:
    from skewless.models.registry import STAGES

    name, ref = model_reference(champion.model)
    if to is not None:
        return name, to
    return name, ref if isinstance(ref, str) and ref in STAGES else "production"


def promote_winner(
    analysis: ExperimentAnalysis,
    experiments: ExperimentStore,
    store: FeatureStore,
    *,
    dataset: str,
    thresholds: Thresholds | None = None,
    to: str | None = None,
) -> WinnerPromotion:
    """Gate the analysis's winner on ``dataset`` and promote it to the champion's alias.

    Args:
        analysis: an analysis whose decision is ``promote challenger``.
        experiments: the experiment records (the decision is recorded there).
        store: the repository (its datasets and MLflow tracking).
        dataset: a saved dataset held out from the winner's training.
        thresholds: the gate's limits.
        to: the alias to promote to (default: the champion's ``staging``/``production``
            alias, else ``production``).

    Returns:
        A :class:`WinnerPromotion`; ``promoted`` is None when the gate failed.

    Raises:
        ExperimentInputError: the analysis has no winner, or the winner is another registered
            model than the champion's, or it was answered by several versions.
        UnknownObjectError, GateInputError, ModelRegistryError: from the gate or the promotion.
    """
    from skewless.models import get_model_version, promote, run_gate

    if analysis.winner is None:
        raise ExperimentInputError(
            f"experiment {analysis.experiment!r} has no winner to promote (its analysis says "
            f"{analysis.decision!r}): keep it running or stop it"
        )
    record = experiments.get(analysis.experiment)
    winner = next(a for a in record.spec.arms if a.name == analysis.winner)
    name, version = _version_of(winner, analysis.arm(winner.name).versions, store)
    champion_model, alias = _target(record.spec.champion, to)
    if champion_model != name:
        raise ExperimentInputError(
            f"the winner {winner.name!r} is model {name!r} and the champion's alias belongs to "
            f"{champion_model!r}: promote it by hand (`skewless models promote`)"
        )
    try:
        previous: int | None = get_model_version(name, alias, store).version
    except UnknownModelError:
        previous = None
    report = run_gate(name, dataset, version=version, thresholds=thresholds, store=store)
    facts = {"arm": winner.name, "model": name, "version": version, "alias": alias}
    if not report.passed:
        failed = ", ".join(c.name for c in report.checks if not c.passed)
        experiments.decide(
            record.name,
            "promotion-refused",
            f"gate on {dataset} failed ({failed}); {alias} unchanged",
            **facts,
        )
        return WinnerPromotion(winner.name, name, version, alias, previous, report, None)
    result = promote(name, version, alias, store=store, gate_report=report.to_dict())
    reason = f"{winner.name} won ({analysis.method} analysis) and passed the gate on {dataset}"
    if experiments.get(record.name).status == "running":
        experiments.stop(record.name, reason, winner=winner.name)
    experiments.decide(
        record.name, "promote", reason, **facts, replaced=previous, gate_sha256=report.digest
    )
    return WinnerPromotion(winner.name, name, version, alias, previous, report, result)
