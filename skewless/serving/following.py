"""Keeping a prediction service on the version its reference names.

A :class:`VersionFollower` owns what the prediction server does for each model it holds
(the served model, and every experiment arm): it holds the version against the retention
rule (renewed while it serves), follows an alias when it moves (the new version is loaded,
its lineage checked, and swapped in for the batches that start after it), and re-checks the
lineage when the registry changes. A version that cannot be served is logged once and the
old one keeps serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from skewless.errors import ModelLineageError, SkewlessError
from skewless.models.holds import put_hold, release_hold
from skewless.serving.model import check_lineage, load_served_model, resolve_version

if TYPE_CHECKING:
    from skewless.models.tracking import Tracking
    from skewless.serving.model import ServedModel
    from skewless.serving.service import PredictionService

__all__ = ["HOLD_RENEW_S", "HOLD_TTL", "VersionFollower"]

logger = logging.getLogger("skewless.server")

HOLD_TTL = timedelta(minutes=10)
"""How long a held version's hold lasts unless renewed (a killed server's lapses)."""
HOLD_RENEW_S = 60.0

Records = Callable[[], Any]
"""The registry's current objects, ``(kind, name) -> record``."""
AliasVersion = Callable[[str, str], int]
"""The version an alias names now (``(model, alias) -> version``)."""


class VersionFollower:
    """Holds, follows and re-checks the model of one :class:`PredictionService`.

    Args:
        tracking: the MLflow tracking and registry.
        service: the service whose model is followed (swapped in place).
        reason: the hold's reason (``served`` or ``experiment``).
        holder: this process, as a holder name.
        records: reads the registry's current objects.
        history: ``registry.history`` (names trained-on versions in messages).
        alias_version: the version an alias names now (one cheap registry call).
        label: how log messages name the model (``churn@production``, ``arm 'b'``).
    """

    def __init__(
        self,
        tracking: Tracking,
        service: PredictionService,
        reason: str,
        holder: str,
        records: Records,
        history: Callable[[str], Any],
        alias_version: AliasVersion,
        label: str | None = None,
    ) -> None:
        self.tracking = tracking
        self.service = service
        self.reason = reason
        self.holder = holder
        self._records = records
        self._history = history
        self._alias_version = alias_version
        self.label = label or str(service.model.ref)
        self.lineage_problem: ModelLineageError | None = None
        self.swaps = 0
        self._failed_versions: set[int] = set()
        self._held_at = 0.0
        self.hold(service.model.version)

    @property
    def model(self) -> ServedModel:
        return self.service.model

    def hold(self, version: int) -> None:
        """Keep ``version`` from the retention rule (renewed while serving)."""
        try:
            put_hold(self.tracking, self.model.name, version, self.reason, self.holder, HOLD_TTL)
        except Exception as exc:  # serving goes on; only retention could miss the hold
            logger.warning("cannot hold version %s against retention: %s", version, exc)
        self._held_at = time.monotonic()

    def renew(self) -> None:
        """Renew the hold when it is due."""
        if time.monotonic() - self._held_at > HOLD_RENEW_S:
            self.hold(self.model.version)

    def release(self, version: int | None = None) -> None:
        """Drop the hold of ``version`` (default: the version serving)."""
        chosen = self.model.version if version is None else version
        release_hold(self.tracking, self.model.name, chosen, self.reason, self.holder)

    def follow(self) -> bool:
        """Swap in the version the alias names now, when it moved; whether it swapped."""
        ref = self.model.ref
        if not ref.is_alias:
            return False
        current = self.model
        if self._alias_version(ref.name, ref.version) in (current.version, *self._failed_versions):
            return False
        info = resolve_version(self.tracking, ref)
        if info.version == current.version or info.version in self._failed_versions:
            return False
        try:
            served = load_served_model(self.tracking, ref, self._records(), self._history, info)
        except SkewlessError as exc:
            self._failed_versions.add(info.version)
            logger.error(
                "%s moved to version %s, which cannot be served (still serving version %s): %s",
                self.label,
                info.version,
                current.version,
                exc,
            )
            return False
        self.hold(served.version)
        self.service.swap(served)
        self.release(current.version)
        self.swaps += 1
        self.lineage_problem = None
        logger.info("%s moved: now serving version %s", self.label, served.version)
        return True

    def recheck_lineage(self) -> None:
        """Check the serving version's lineage against the registry again."""
        model = self.model
        try:
            check_lineage(model.name, model.version, model.lineage, self._records(), self._history)
        except ModelLineageError as exc:
            if self.lineage_problem is None:
                logger.error("the registry changed under %s: %s", self.label, exc)
            self.lineage_problem = exc
        else:
            if self.lineage_problem is not None:
                logger.warning("the definitions of %s match the registry again", self.label)
            self.lineage_problem = None
