"""The results of an experiment, computed from its prediction log and the feedback on it.

:func:`analyze_experiment` reads the rows the experiment routed between its start and its stop
(or now), keeps those whose answer the user saw (see :mod:`skewless.experiments.analysis_rows`:
header-routed and shadow rows are left out), and compares each challenger with the champion:

- the unit is one logged entity row with feedback: ``n`` counts the rows that have a label and
  ``conversions`` those whose label is a conversion; rows without feedback yet are not counted
  (a missing outcome is not a failure), and ``logged`` says how many rows were answered;
- a split experiment is tested with :func:`~skewless.experiments.sequential_test` when it
  declares ``analysis: sequential`` (the default: it may be read at any time, as often as
  wanted) and with :func:`~skewless.experiments.proportion_test` when it declares
  ``analysis: fixed`` (read it once, at its planned size). With several challengers each is
  tested at ``alpha / challengers`` (Bonferroni), so the experiment's level stays ``alpha``;
- a bandit experiment (``policy`` other than ``split``) is judged by its arms' Beta posteriors
  (:mod:`skewless.experiments.posterior`): its allocation follows the outcomes, which biases a
  z-test. An arm is chosen when its probability of being the best reaches ``1 - alpha``;
- the series holds, per challenger, the comparison over the rows answered up to the end of each
  hour (a window of up to three days) or day. A sequential analysis takes each point as one look
  (the p-value is the smallest so far and the interval the intersection of the looks'), so its
  final figures are those of its last point.

The result's shape is in :mod:`skewless.experiments.analysis_results`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy import special

from skewless._time import to_utc
from skewless.experiments.analysis_results import (
    NOT_ENOUGH_DATA,
    ArmResult,
    ExperimentAnalysis,
    SeriesPoint,
)
from skewless.experiments.analysis_rows import ExperimentRows, experiment_rows
from skewless.experiments.fixed import proportion_test
from skewless.experiments.posterior import DEFAULT_DRAWS, arm_posteriors
from skewless.experiments.records import ExperimentRecord
from skewless.experiments.results import (
    CONTINUE,
    KEEP_CHAMPION,
    NO_SIGNIFICANT_DIFFERENCE,
    PROMOTE_CHALLENGER,
    ProportionResult,
    SequentialResult,
)
from skewless.experiments.sequential import sequential_test

__all__ = ["HOURLY_UP_TO", "analyze_experiment", "wilson_interval"]

HOURLY_UP_TO = timedelta(days=3)
"""Windows up to this long are charted per hour, longer ones per day."""
_SERIES_DRAWS = 20_000
_US = 1_000_000
Counts = tuple[np.ndarray, np.ndarray]  # cumulative users and conversions per bucket


def wilson_interval(conversions: int, total: int, alpha: float) -> tuple[float, float]:
    """The Wilson score interval of a rate at level ``1 - alpha``.

    >>> [round(x, 4) for x in wilson_interval(10, 100, 0.05)]
    [0.0552, 0.1744]
    """
    if total == 0:
        return (0.0, 1.0)
    z = -float(special.ndtri(alpha / 2.0))
    p = conversions / total
    denominator = 1.0 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _bucket(start: datetime, end: datetime) -> tuple[str, timedelta]:
    if end - start <= HOURLY_UP_TO:
        return "hour", timedelta(hours=1)
    return "day", timedelta(days=1)


def _cumulative(
    rows: ExperimentRows, arm: str, start: datetime, step: timedelta, buckets: int
) -> Counts:
    mine = rows.arms == arm
    index = (rows.times[mine] - int(start.timestamp() * _US)) // int(step.total_seconds() * _US)
    index = np.clip(index, 0, max(buckets - 1, 0))
    users = np.bincount(index, minlength=buckets)
    conversions = np.bincount(index, weights=rows.converted[mine], minlength=buckets)
    return np.cumsum(users).astype(int), np.cumsum(conversions).round().astype(int)


def _lift(difference: float, control_rate: float) -> float | None:
    return difference / control_rate if control_rate > 0 else None


def _lift_ci(ci: tuple[float, float], control_rate: float) -> tuple[float, float] | None:
    return (ci[0] / control_rate, ci[1] / control_rate) if control_rate > 0 else None


def _test_point(
    control: tuple[int, int],
    treatment: tuple[int, int],
    alpha: float,
    sequential: bool,
    previous: SequentialResult | None,
) -> ProportionResult | SequentialResult:
    (c_conv, c_n), (t_conv, t_n) = control, treatment
    if sequential:
        return sequential_test(c_conv, c_n, t_conv, t_n, alpha=alpha, previous=previous)
    return proportion_test(c_conv, c_n, t_conv, t_n, alpha=alpha)


def _frequentist(
    champion: Counts, challenger: Counts, at: list[datetime], alpha: float, sequential: bool
) -> tuple[ProportionResult | SequentialResult | None, tuple[SeriesPoint, ...]]:
    """The challenger's test at every point of the series; the last one is the result."""
    points = []
    result: ProportionResult | SequentialResult | None = None
    previous: SequentialResult | None = None
    for k, when in enumerate(at):
        control = (int(champion[1][k]), int(champion[0][k]))
        treatment = (int(challenger[1][k]), int(challenger[0][k]))
        if control[1] == 0 or treatment[1] == 0:
            points.append(SeriesPoint(when, control[1], treatment[1]))
            continue
        result = _test_point(control, treatment, alpha, sequential, previous)
        if isinstance(result, SequentialResult):
            previous = result
        control_rate = control[0] / control[1]
        points.append(
            SeriesPoint(
                when,
                control[1],
                treatment[1],
                difference=result.difference,
                lift=_lift(result.difference, control_rate),
                ci=result.ci,
                lift_ci=_lift_ci(result.ci, control_rate),
                p_value=result.p_value,
            )
        )
    return result, tuple(points)


def _split_arms(
    record: ExperimentRecord, rows: ExperimentRows, counts: dict[str, Counts], at: list[datetime]
) -> tuple[list[ArmResult], dict[str, tuple[SeriesPoint, ...]], float]:
    spec = record.spec
    champion, *challengers = spec.live_arms
    alpha = spec.alpha / max(len(challengers), 1)
    sequential = spec.analysis == "sequential"
    base = counts[champion.name]
    results = [_arm(record, rows, champion.name, counts, "champion", "champion")]
    series: dict[str, tuple[SeriesPoint, ...]] = {}
    for arm in challengers:
        test, points = _frequentist(base, counts[arm.name], at, alpha, sequential)
        series[arm.name] = points
        if test is None:
            results.append(_arm(record, rows, arm.name, counts, "challenger", NOT_ENOUGH_DATA))
            continue
        control_rate = results[0].rate or 0.0
        results.append(
            _arm(
                record,
                rows,
                arm.name,
                counts,
                "challenger",
                test.recommendation,
                difference=test.difference,
                lift=_lift(test.difference, control_rate),
                ci=test.ci,
                lift_ci=_lift_ci(test.ci, control_rate),
                p_value=test.p_value,
            )
        )
    return results, series, alpha


def _arm(
    record: ExperimentRecord,
    rows: ExperimentRows,
    name: str,
    counts: dict[str, Counts],
    role: str,
    decision: str,
    **comparison: object,
) -> ArmResult:
    arm = next(a for a in record.spec.arms if a.name == name)
    users, conversions = counts[name]
    n = int(users[-1]) if len(users) else 0
    c = int(conversions[-1]) if len(conversions) else 0
    rate_ci = comparison.pop("rate_ci", None)
    if rate_ci is None and n:
        rate_ci = wilson_interval(c, n, record.spec.alpha)
    return ArmResult(
        name=name,
        model=arm.model,
        role=role,
        logged=rows.logged.get(name, 0),
        n=n,
        conversions=c,
        rate=c / n if n else None,
        rate_ci=rate_ci,  # type: ignore[arg-type]
        fallbacks=rows.fallbacks if role == "champion" else 0,
        versions=rows.versions.get(name, ()),
        decision=decision,
        **comparison,  # type: ignore[arg-type]
    )


def _bandit_arms(
    record: ExperimentRecord,
    rows: ExperimentRows,
    counts: dict[str, Counts],
    at: list[datetime],
    draws: int,
    seed: int,
) -> tuple[list[ArmResult], dict[str, tuple[SeriesPoint, ...]], str | None]:
    spec = record.spec
    live = spec.live_arms
    totals = [int(counts[a.name][0][-1]) if len(at) else 0 for a in live]
    converted = [int(counts[a.name][1][-1]) if len(at) else 0 for a in live]
    posteriors = arm_posteriors(converted, totals, alpha=spec.alpha, draws=draws, seed=seed)
    best = max(range(len(live)), key=lambda i: posteriors[i].probability_best)
    enough = totals[0] > 0 and any(totals[1:])
    confident = enough and posteriors[best].probability_best >= 1.0 - spec.alpha
    winner = live[best].name if confident and best > 0 else None
    results = []
    for i, (arm, post) in enumerate(zip(live, posteriors, strict=True)):
        if i == 0:
            decision = "champion"
        elif not totals[i] or not totals[0]:
            decision = NOT_ENOUGH_DATA
        elif confident:
            decision = PROMOTE_CHALLENGER if i == best else KEEP_CHAMPION
        else:
            decision = CONTINUE
        rate0 = converted[0] / totals[0] if totals[0] else 0.0
        difference = (converted[i] / totals[i] - rate0) if totals[i] and totals[0] else None
        comparison: dict[str, object] = {
            "rate_ci": post.interval,
            "probability_best": post.probability_best,
            "expected_loss": post.expected_loss,
        }
        if i > 0 and difference is not None:
            comparison |= {
                "difference": difference,
                "lift": _lift(difference, rate0),
                "ci": post.difference_interval,
                "lift_ci": post.lift_interval if math.isfinite(post.lift_interval[1]) else None,
                "probability_beats_champion": post.probability_beats_champion,
            }
        results.append(
            _arm(
                record,
                rows,
                arm.name,
                counts,
                "champion" if i == 0 else "challenger",
                decision,
                **comparison,
            )
        )
    series = {
        a.name: _bandit_series(counts, live[0].name, a.name, at, spec.alpha, seed) for a in live[1:]
    }
    return results, series, winner


def _bandit_series(
    counts: dict[str, Counts], champion: str, arm: str, at: list[datetime], alpha: float, seed: int
) -> tuple[SeriesPoint, ...]:
    points = []
    for k, when in enumerate(at):
        n_c, c_c = int(counts[champion][0][k]), int(counts[champion][1][k])
        n_t, c_t = int(counts[arm][0][k]), int(counts[arm][1][k])
        if not n_c or not n_t:
            points.append(SeriesPoint(when, n_c, n_t))
            continue
        post = arm_posteriors([c_c, c_t], [n_c, n_t], alpha=alpha, draws=_SERIES_DRAWS, seed=seed)
        difference = c_t / n_t - c_c / n_c
        points.append(
            SeriesPoint(
                when,
                n_c,
                n_t,
                difference=difference,
                lift=_lift(difference, c_c / n_c),
                ci=post[1].difference_interval,
                lift_ci=post[1].lift_interval if math.isfinite(post[1].lift_interval[1]) else None,
            )
        )
    return tuple(points)


def _decision(arms: list[ArmResult], method: str) -> tuple[str, str | None]:
    challengers = [a for a in arms if a.role == "challenger"]
    winners = [a for a in challengers if a.decision == PROMOTE_CHALLENGER]
    if winners:
        return PROMOTE_CHALLENGER, max(winners, key=lambda a: a.rate or 0.0).name
    if challengers and all(a.decision == KEEP_CHAMPION for a in challengers):
        return KEEP_CHAMPION, None
    if not challengers or all(a.decision == NOT_ENOUGH_DATA for a in challengers):
        return NOT_ENOUGH_DATA, None
    return (NO_SIGNIFICANT_DIFFERENCE if method == "fixed" else CONTINUE), None


def _notes(
    record: ExperimentRecord, rows: ExperimentRows, arms: list[ArmResult], log: str, alpha: float
) -> list[str]:
    spec = record.spec
    notes = []
    if not rows.log_found:
        notes.append(f"no prediction log {log!r} yet: the experiment has answered no request")
    if rows.excluded.get("header"):
        notes.append(
            f"{rows.excluded['header']:,} rows routed by the x-experiment-group header are left "
            "out: the header, not the experiment, chose their arm"
        )
    if spec.shadow_arms:
        notes.append("shadow arms are scored but never answered: only their rows are counted")
    if rows.fallbacks:
        notes.append(
            f"{rows.fallbacks:,} rows answered by the champion for a challenger that failed or "
            "was too slow count for the champion, whose answer the user saw"
        )
    live = [a for a in arms if a.role != "shadow"]
    logged, labelled = sum(a.logged for a in live), sum(a.n for a in live)
    if logged > labelled:
        notes.append(
            f"{logged - labelled:,} of {logged:,} answered rows have no feedback yet and are "
            "not counted"
        )
    challengers = len(spec.live_arms) - 1
    if spec.policy == "split" and challengers > 1:
        notes.append(
            f"{challengers} challengers: each is tested at alpha {alpha:.4g} "
            f"({spec.alpha:g} / {challengers}, Bonferroni)"
        )
    if spec.policy == "split" and spec.analysis == "fixed":
        notes.append(
            "fixed-horizon test: read it once, at the planned sample size; the points of the "
            "series are not valid stopping points"
        )
    if spec.policy != "split":
        notes.append(
            f"bandit ({spec.policy}): judged by the arms' Beta posteriors; an arm wins when its "
            f"probability of being the best reaches {1 - spec.alpha:.0%}"
        )
    return notes


def analyze_experiment(
    record: ExperimentRecord,
    root: Path,
    *,
    now: datetime | None = None,
    log: str | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> ExperimentAnalysis:
    """The results of the experiment ``record`` from the prediction log and its feedback.

    Args:
        record: the experiment, from :class:`~skewless.experiments.records.ExperimentStore`.
        root: the repository directory holding the prediction logs.
        now: the end of a running experiment's window (default: the current time).
        log: the prediction log to read (default: the experiment's model).
        draws: posterior draws of a bandit's figures.
        seed: seeds those draws.

    Returns:
        An :class:`~skewless.experiments.analysis_results.ExperimentAnalysis`.

    Raises:
        ExperimentInputError: a feedback label that is not a conversion outcome.
    """
    spec = record.spec
    start = to_utc(record.started_at)
    end = to_utc(record.stopped_at) if record.stopped_at else to_utc(now or datetime.now(UTC))
    end = max(end, start)
    log_name = log or spec.model
    rows = experiment_rows(spec, Path(root), log_name, start, end)
    bucket, step = _bucket(start, end)
    buckets = max(1, math.ceil((end - start) / step))
    at = [min(start + step * (k + 1), end) for k in range(buckets)]
    counts = {a.name: _cumulative(rows, a.name, start, step, buckets) for a in spec.live_arms}
    winner: str | None = None
    if spec.policy == "split":
        method: str = spec.analysis
        arms, series, alpha = _split_arms(record, rows, counts, at)
        decision, winner = _decision(arms, method)
    else:
        method, alpha = "bayesian", spec.alpha
        arms, series, winner = _bandit_arms(record, rows, counts, at, draws, seed)
        decision, _ = _decision(arms, method)
        decision = PROMOTE_CHALLENGER if winner else decision
    for shadow in spec.shadow_arms:
        arms.append(
            ArmResult(
                name=shadow.name,
                model=shadow.model,
                role="shadow",
                logged=rows.shadow.get(shadow.name, 0),
                versions=rows.versions.get(shadow.name, ()),
                decision="shadow",
            )
        )
    return ExperimentAnalysis(
        experiment=spec.name,
        model=spec.model,
        status=record.status,
        policy=spec.policy,
        method=method,
        alpha=spec.alpha,
        comparison_alpha=alpha,
        start=start,
        end=end,
        bucket=bucket,
        decision=decision,
        winner=winner,
        arms=tuple(arms),
        excluded=dict(rows.excluded),
        series=series,
        record=record.to_dict(),
        notes=tuple(_notes(record, rows, arms, log_name, alpha)),
    )
