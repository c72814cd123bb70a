"""The rows an experiment's analysis counts: its answered rows in the prediction log, joined with
their feedback, each attributed to the arm whose answer the user saw.

- ``sticky`` and ``bandit`` rows count for their arm; ``fallback`` rows (the champion answered
  for an arm that failed or timed out) count for the champion, whatever arm they were meant for.
- ``header`` rows (the ``x-experiment-group`` override chose the arm) and ``shadow`` rows
  (scored, never answered) are left out and counted, as are rows of an arm the experiment does
  not declare (``other``).
- A row's label counts as a conversion when it is ``true``, a number other than 0, or the text
  ``true``, ``yes`` or ``1`` (any case); ``false``, ``no``, ``0`` and the empty text do not.
  Any other text is an error.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from skewless.errors import ExperimentInputError, PredictionLogError
from skewless.experiments.spec import ExperimentSpec
from skewless.serving.feedback import labelled_predictions
from skewless.serving.logs_read import read_prediction_logs

__all__ = ["ANSWERED", "ExperimentRows", "conversions_of", "experiment_rows"]

ANSWERED = ("sticky", "bandit", "fallback")
_TRUE_TEXT = frozenset({"true", "yes", "1"})
_FALSE_TEXT = frozenset({"false", "no", "0", ""})


@dataclass
class ExperimentRows:
    """The experiment's rows in a window.

    Attributes:
        times: prediction times of the labelled rows counted, in microseconds since the epoch.
        arms: the arm each of those rows counts for.
        converted: whether each of those rows converted.
        logged: answered rows per arm (labelled or not).
        shadow: rows scored per shadow arm.
        fallbacks: rows the champion answered for another arm.
        versions: the model versions that answered, per arm.
        excluded: rows left out, by why (``header``, ``shadow``, ``other``).
        log_found: whether the model's prediction log exists at all.
    """

    times: npt.NDArray[np.int64]
    arms: npt.NDArray[np.object_]
    converted: npt.NDArray[np.bool_]
    logged: dict[str, int] = field(default_factory=dict)
    shadow: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    versions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    log_found: bool = True


def _strings(table: pa.Table, column: str) -> npt.NDArray[np.object_]:
    if column not in table.column_names:
        return np.full(table.num_rows, None, dtype=object)
    return np.array(table.column(column).to_pylist(), dtype=object)


def _of_experiment(table: pa.Table, name: str) -> pa.Table:
    if "experiment" not in table.column_names or table.num_rows == 0:
        return table.slice(0, 0)
    return table.filter(pc.fill_null(pc.equal(table.column("experiment"), name), False))


def _attributed(
    table: pa.Table, spec: ExperimentSpec
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_], npt.NDArray[np.object_]]:
    """Per row, the arm it counts for, whether it counts, and its assignment."""
    assignment = _strings(table, "assignment")
    arm = _strings(table, "arm")
    effective = np.where(assignment == "fallback", spec.champion.name, arm)
    live = np.array([a.name for a in spec.live_arms], dtype=object)
    keep = np.isin(assignment, np.array(ANSWERED, dtype=object)) & np.isin(effective, live)
    return effective, keep, assignment


def conversions_of(labels: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    """Whether each label counts as a conversion (see the module docstring).

    >>> conversions_of(pa.array([1, 0, 2])).tolist()
    [True, False, True]
    >>> conversions_of(pa.array(["Yes", "no", ""])).tolist()
    [True, False, False]

    Raises:
        ExperimentInputError: a text label that is neither true/yes/1 nor false/no/0.
    """
    dtype = labels.type
    if len(labels) == 0 or pa.types.is_null(dtype):
        return np.zeros(len(labels), dtype=bool)
    if pa.types.is_boolean(dtype) or pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        values = np.asarray(pc.fill_null(labels.cast(pa.float64()), 0.0).to_numpy())
        return values != 0
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        out = np.zeros(len(labels), dtype=bool)
        for i, text in enumerate(labels.to_pylist()):
            word = (text or "").strip().lower()
            if word in _TRUE_TEXT:
                out[i] = True
            elif word not in _FALSE_TEXT:
                raise ExperimentInputError(
                    f"feedback label {text!r} is not a conversion outcome: record true/false, "
                    "1/0 or yes/no for an experiment's conversions"
                )
        return out
    raise ExperimentInputError(
        f"feedback labels of type {dtype} are not conversion outcomes: record booleans or 0/1"
    )


def experiment_rows(
    spec: ExperimentSpec, root: Path, log: str, start: datetime, end: datetime
) -> ExperimentRows:
    """The rows of experiment ``spec`` in the log ``log``, answered from ``start`` to ``end``.

    Raises:
        ExperimentInputError: a feedback label that is not a conversion outcome.
    """
    empty = ExperimentRows(
        np.zeros(0, np.int64), np.zeros(0, dtype=object), np.zeros(0, bool), log_found=False
    )
    try:
        logged = _of_experiment(read_prediction_logs(root, log, since=start, until=end), spec.name)
        labelled = _of_experiment(
            labelled_predictions(root, log, since=start, until=end), spec.name
        )
    except PredictionLogError:
        empty.excluded = {"header": 0, "shadow": 0, "other": 0}
        return empty
    arm, keep, assignment = _attributed(logged, spec)
    shadows = {a.name for a in spec.shadow_arms}
    is_shadow = (assignment == "shadow") & np.isin(arm, np.array(sorted(shadows), dtype=object))
    header = int(np.count_nonzero(assignment == "header"))
    shadow_rows = int(np.count_nonzero(assignment == "shadow"))
    versions = _strings(logged, "model_version")
    per_arm: dict[str, set[int]] = {}
    for a, v in zip(arm[keep | is_shadow], versions[keep | is_shadow], strict=True):
        if v is not None:
            per_arm.setdefault(str(a), set()).add(int(v))
    l_arm, l_keep, _ = _attributed(labelled, spec)
    times = (
        np.asarray(labelled.column("timestamp").cast(pa.int64()).to_numpy())
        if labelled.num_rows
        else np.zeros(0, np.int64)
    )
    labels = labelled.column("label").filter(pa.array(l_keep)) if labelled.num_rows else None
    converted = conversions_of(labels) if labels is not None else np.zeros(0, bool)
    return ExperimentRows(
        times=times[l_keep].astype(np.int64),
        arms=l_arm[l_keep],
        converted=converted,
        logged=dict(Counter(str(a) for a in arm[keep])),
        shadow=dict(Counter(str(a) for a in arm[is_shadow])),
        fallbacks=int(np.count_nonzero(keep & (assignment == "fallback"))),
        versions={a: tuple(sorted(v)) for a, v in per_arm.items()},
        excluded={
            "header": header,
            "shadow": shadow_rows,
            "other": int(logged.num_rows - np.count_nonzero(keep) - header - shadow_rows),
        },
    )
