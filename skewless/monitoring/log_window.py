"""A window of a prediction log as one side of a drift comparison.

``LogWindow(root, "churn", since=timedelta(days=1))`` names the rows the prediction server
logged for model ``churn`` over the last day (``version=`` keeps one model version's rows).
:meth:`LogWindow.features` gives the feature values the model was given, one row per entity
answered (rows answered without features, ``missing``, are left out and counted);
:meth:`LogWindow.predictions` gives what it answered: ``prediction`` and, for a classifier,
one ``probability_<class>`` column per class, as batch inference writes them. See
docs/monitoring.md, "Prediction-log windows".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.errors import DriftInputError
from skewless.serving.batch_scoring import PREDICTION, PROBABILITY_PREFIX
from skewless.serving.logs import BASE_COLUMNS
from skewless.serving.logs_read import TimeBound, read_prediction_logs, resolve_bound
from skewless.serving.records import utc_now

__all__ = ["LogWindow", "probability_columns"]

TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class LogWindow:
    """The rows of model ``model``'s prediction log from ``since`` (inclusive) to ``until``
    (exclusive); a timedelta bound counts back from ``now`` (default: the clock).

    Args:
        root: the repository whose ``data/prediction_logs/`` holds the log.
        model: the log's name (the served model's name).
        since, until: the window's bounds (None: the log's start, or no end).
        version: keep only this model version's rows.
        columns: the feature columns :meth:`features` gives by default, and that a
            ``drift_report`` side compares (e.g. the model's feature columns, leaving the
            entity keys out).
        now: "now" for timedelta bounds (default: the clock when the window is made).

    Example:
        >>> window = LogWindow(Path("."), "churn", since=timedelta(days=1))
        >>> window.model, window.version
        ('churn', None)
    """

    root: Path
    model: str
    since: TimeBound = timedelta(days=1)
    until: TimeBound = None
    version: int | None = None
    now: datetime | None = None
    columns: tuple[str, ...] | None = None
    _cache: dict[str, pa.Table] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.now is None:  # the window is fixed when it is made
            object.__setattr__(self, "now", utc_now())

    @property
    def start(self) -> datetime | None:
        """The first instant of the window (None: the log's start)."""
        return resolve_bound(self.since, self.now)

    @property
    def end(self) -> datetime | None:
        """The instant the window ends before (None: no end)."""
        return resolve_bound(self.until, self.now)

    @property
    def name(self) -> str:
        """What the window holds, for a report's title: ``churn v3 2026-12-01..2026-12-02``."""
        version = f" v{self.version}" if self.version is not None else ""
        start = self.start.strftime("%Y-%m-%d %H:%M") if self.start else "start"
        end = self.end.strftime("%Y-%m-%d %H:%M") if self.end else "now"
        return f"{self.model}{version} {start}..{end}"

    def read(self) -> pa.Table:
        """Every logged row of the window (read once, then kept).

        Raises:
            PredictionLogError: the repository has no log of this model.
        """
        if "rows" not in self._cache:
            table = read_prediction_logs(
                Path(self.root), self.model, self.start, self.end, now=self.now
            )
            if self.version is not None:
                table = table.filter(pc.equal(table.column("model_version"), self.version))
            self._cache["rows"] = table
        return self._cache["rows"]

    @property
    def missing(self) -> int:
        """Rows answered without features (NOT_FOUND or too old), left out of the sides."""
        rows = self.read()
        return int(pc.sum(rows.column("missing")).as_py() or 0) if rows.num_rows else 0

    def features(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The feature values of the rows answered with features, with their ``timestamp``
        last: ``columns`` (default: the window's ``columns``, else every column the log adds
        to its own, which includes the entity keys; pass the model's feature columns to
        leave them out).

        Raises:
            DriftInputError: a column the log does not hold, or a window with no rows.
        """
        rows = self._answered()
        columns = columns if columns is not None else self.columns
        names = list(columns) if columns is not None else self._feature_names(rows)
        absent = [c for c in names if c not in rows.column_names]
        if absent:
            raise DriftInputError(
                f"the prediction log of {self.model!r} has no column(s) {absent} over "
                f"{self.name}: name feature columns the model was served with"
            )
        return rows.select([*names, TIMESTAMP])

    def as_side(self) -> pa.Table:
        """What ``drift_report`` compares when given this window: :meth:`features` without
        the timestamp."""
        return self.features().drop_columns([TIMESTAMP])

    def predictions(self, classes: Sequence[Any] | None = None) -> pa.Table:
        """``prediction``, one ``probability_<class>`` column per class (when the log holds
        probabilities; ``classes`` names them, else they are numbered), then ``timestamp``.

        Raises:
            DriftInputError: a window with no rows answered.
        """
        rows = self._answered()
        table = pa.table({PREDICTION: rows.column(PREDICTION)})
        for name, values in probability_columns(rows.column("probabilities"), classes).items():
            table = table.append_column(name, values)
        return table.append_column(TIMESTAMP, rows.column(TIMESTAMP))

    def _answered(self) -> pa.Table:
        rows = self.read()
        answered = rows.filter(pc.invert(rows.column("missing"))) if rows.num_rows else rows
        if answered.num_rows == 0:
            raise DriftInputError(
                f"the prediction log of {self.model!r} holds no answered rows over "
                f"{self.name} ({rows.num_rows} rows, {self.missing if rows.num_rows else 0} "
                "missing): choose a window in which the model answered requests"
            )
        return answered

    @staticmethod
    def _feature_names(rows: pa.Table) -> list[str]:
        return [c for c in rows.column_names if c not in BASE_COLUMNS]


def probability_columns(
    probabilities: pa.ChunkedArray | pa.Array, classes: Sequence[Any] | None = None
) -> dict[str, pa.Array]:
    """A list column of class probabilities as one float column per class, named
    ``probability_<class>`` (numbered from 0 without ``classes``); empty when no row has
    probabilities (a regressor).

    Raises:
        DriftInputError: rows of different lengths, or ``classes`` of another length.

    Example:
        >>> cols = probability_columns(pa.array([[0.2, 0.8], [0.6, 0.4]]), ["no", "yes"])
        >>> {k: v.to_pylist() for k, v in cols.items()}
        {'probability_no': [0.2, 0.6], 'probability_yes': [0.8, 0.4]}
    """
    if isinstance(probabilities, pa.ChunkedArray):
        probabilities = probabilities.combine_chunks()
    if len(probabilities) == 0 or probabilities.null_count == len(probabilities):
        return {}
    lengths = pc.list_value_length(probabilities).drop_null()
    widths = set(np.unique(lengths.to_numpy()).tolist())
    if len(widths) != 1:
        raise DriftInputError(
            f"the logged probabilities have rows of {sorted(widths)} classes: compare one "
            "model version at a time (LogWindow(..., version=N))"
        )
    width = widths.pop()
    if classes is not None and len(classes) != width:
        raise DriftInputError(
            f"{len(classes)} classes were named for probabilities of {width}: pass the "
            "model's classes in its order"
        )
    names = [f"{PROBABILITY_PREFIX}{c}" for c in (classes if classes is not None else range(width))]
    valid = pc.is_valid(probabilities).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(probabilities).to_numpy(zero_copy_only=False).astype(np.float64)
    matrix = np.full((len(probabilities), width), np.nan)
    matrix[valid] = flat.reshape(-1, width)
    return {name: pa.array(matrix[:, i], from_pandas=True) for i, name in enumerate(names)}
