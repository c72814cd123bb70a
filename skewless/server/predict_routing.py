"""The prediction server's experiment: its arms loaded, followed and re-checked, its record
polled.

:class:`ExperimentRouting` builds the :class:`~skewless.serving.routing.Router` of the
experiment ``--experiment`` names: one service per distinct arm model (the champion shares
the served model's), each followed like the served model (:class:`~skewless.serving.following.
VersionFollower`, holds of reason ``experiment``), and a bandit for the bandit policies, whose
posteriors are rebuilt at start from the logged answers and their feedback. The server's
watcher calls :meth:`ExperimentRouting.check`: a changed record (new weights, stopped) is
applied to the batches that start after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skewless.errors import PredictionLogError
from skewless.experiments.canary import CanaryController
from skewless.experiments.records import ExperimentStore
from skewless.serving.arms import arm_refs, check_arms, resolve_experiment
from skewless.serving.experiment_state import BanditAllocation
from skewless.serving.following import VersionFollower
from skewless.serving.model import load_served_model
from skewless.serving.routing import Router

if TYPE_CHECKING:
    from skewless.experiments.records import ExperimentRecord
    from skewless.models.tracking import Tracking
    from skewless.serving.model import ServedModel
    from skewless.serving.reference import ModelRef
    from skewless.serving.service import PredictionService, PredictionSink
    from skewless.store import FeatureStore

__all__ = ["CANARY_TICK_S", "ExperimentRouting"]

logger = logging.getLogger("skewless.server")

CANARY_TICK_S = 2.0
"""How often a server looks at its canary's guards (every worker looks; the record's
compare-and-set writes make one of them apply each step)."""


class ExperimentRouting:
    """The experiment a prediction server routes, and the arms it holds.

    Args:
        store: the feature store (its registry holds the experiment records).
        tracking: the MLflow tracking and registry.
        source: ``--experiment``: a file or the name of a running experiment.
        served: the follower of the served model (the champion).
        make_service: a prediction service (without sink) for a loaded arm model.
        sink: where the router logs.
        follower: builds the follower of one arm's service (``(service, label)``).

    Raises:
        ExperimentInputError: the experiment is invalid, stopped, splits another model or
            its champion is not the served model.
        UnknownModelError: an arm names a version or alias that does not exist.
        ModelLineageError: an arm's version cannot be served.
    """

    def __init__(
        self,
        store: FeatureStore,
        tracking: Tracking,
        source: str,
        served: VersionFollower,
        make_service: Callable[[ServedModel], PredictionService],
        sink: PredictionSink | None,
        follower: Callable[[PredictionService, str], VersionFollower],
    ) -> None:
        self.store = store
        self.experiments = ExperimentStore(store.registry)
        history = store.registry.history

        infos: dict[str, Any] = {}

        def check(spec: Any) -> None:
            infos.update(check_arms(tracking, spec, store.registry.records()[1], history))

        served_ref: ModelRef = served.model.ref
        record = resolve_experiment(self.experiments, source, served_ref, check)
        spec = record.spec
        services: dict[str, PredictionService] = {str(served_ref): served.service}
        self.followers: list[tuple[VersionFollower, list[str]]] = []
        arms_of: dict[str, list[str]] = {}
        for arm, ref in arm_refs(spec).items():
            arms_of.setdefault(str(ref), []).append(arm)
        try:
            for key, arms in arms_of.items():
                if key in services:
                    continue
                ref = arm_refs(spec)[arms[0]]
                model = load_served_model(
                    tracking, ref, store.registry.records()[1], history, infos[arms[0]]
                )
                services[key] = make_service(model)
                label = f"arm {', '.join(map(repr, arms))} of experiment {spec.name!r} ({ref})"
                self.followers.append((follower(services[key], label), arms))
        except BaseException:
            self.release()
            raise
        by_arm = {arm: services[key] for key, arms in arms_of.items() for arm in arms}
        bandit = None
        if spec.policy != "split":
            bandit = BanditAllocation(spec.policy, [a.name for a in spec.live_arms])
            self._replay(bandit, record)
        self.router = Router(record, by_arm, sink, bandit)
        self._version = record.version
        self.canary: CanaryController | None = None
        if spec.canary is not None:
            self.canary = CanaryController(
                self.experiments, spec.name, self._read_step, lambda: datetime.now(UTC)
            )
        self._next_tick = 0.0
        self._last_action: str | None = None

    @property
    def name(self) -> str:
        return self.router.name

    def _replay(self, bandit: BanditAllocation, record: ExperimentRecord) -> None:
        """The bandit's posteriors from the feedback on its earlier answers, when there are
        any (a first start has no log yet: it starts fresh)."""
        from skewless.serving.feedback import labelled_predictions
        from skewless.serving.log_files import log_dir

        if not log_dir(self.store.repo_path, record.spec.model).is_dir():
            return
        try:
            labelled = labelled_predictions(
                self.store.repo_path, record.spec.model, since=record.started_at
            )
        except Exception as exc:
            logger.warning("cannot replay the feedback of experiment %r: %s", record.name, exc)
            return
        replayed = bandit.learn_from(labelled, record.name)
        if replayed:
            logger.info("experiment %r: %d rewards replayed from the log", record.name, replayed)

    def check(self) -> None:
        """Apply a changed experiment record; renew the arms' holds and follow their aliases."""
        version = self.experiments.version(self.name)
        if version != self._version:
            self.router.apply(self.experiments.get(self.name))
            self._version = version
        for follower, _ in self.followers:
            follower.renew()
            follower.follow()
        self._tick_canary()

    def _tick_canary(self) -> None:
        """One look at the canary's guards, every :data:`CANARY_TICK_S` seconds; a step or a
        rollback it writes is applied by the next :meth:`check`."""
        if self.canary is None or time.monotonic() < self._next_tick:
            return
        self._next_tick = time.monotonic() + CANARY_TICK_S
        try:
            decision = self.canary.tick()
        except Exception as exc:
            logger.warning("canary of experiment %r: cannot judge its step: %s", self.name, exc)
            return
        if decision.action == self._last_action:
            return
        self._last_action = decision.action
        if decision.action == "rollback":
            logger.warning("experiment %r: %s", self.name, decision.reason)
        elif decision.action in ("advance", "complete"):
            logger.info(
                "experiment %r: canary %s (%s)", self.name, decision.action, decision.reason
            )

    def _read_step(self, start: datetime, end: datetime) -> tuple[Any, Any]:
        from skewless.serving.feedback import labelled_predictions
        from skewless.serving.logs_read import empty_log, read_prediction_logs

        root, model = self.store.repo_path, self.router.record.spec.model
        try:
            rows = read_prediction_logs(root, model, start, end)
            labelled = labelled_predictions(root, model, start, end)
        except PredictionLogError:
            return empty_log(), None
        return rows, labelled

    def recheck_lineage(self) -> None:
        """Check the arms' lineages again; an arm whose definitions changed falls back."""
        for follower, arms in self.followers:
            follower.recheck_lineage()
            problem = follower.lineage_problem
            for arm in arms:
                self.router.block(arm, None if problem is None else str(problem))

    def release(self) -> None:
        """Drop the arms' holds."""
        for follower, _ in self.followers:
            try:
                follower.release()
            except Exception as exc:
                logger.warning("cannot release the hold of %s: %s", follower.label, exc)

    def close(self) -> None:
        self.router.close()
        self.release()
