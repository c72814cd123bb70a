"""The reference of prediction drift: what the model answers on its reference dataset.

The served predictions of a window are compared with the predictions the same model version
makes on the reference dataset (its training set by default). Those are computed once, by
scoring the dataset's feature columns batch by batch with the batch-inference scorer, and
kept as a profile beside the dataset (``<stem>.predictions-<model>-v<version>-<fp>.profile.json``,
``fp`` the dataset's entity fingerprint), so later runs read a few kilobytes instead of
scoring the rows again. See docs/monitoring.md, "skewless monitor".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from skewless.errors import ProfileError, SourceNotFoundError
from skewless.monitoring.profile import Profile
from skewless.monitoring.profile_build import build_profile
from skewless.serving.batch_scoring import PREDICTION, PROBABILITY_PREFIX, BatchScorer

if TYPE_CHECKING:
    from skewless.datasets import SavedDataset
    from skewless.serving.model import ServedModel

__all__ = ["SCORING_BATCH_ROWS", "prediction_profile", "prediction_profile_file"]

SCORING_BATCH_ROWS = 65_536


def prediction_profile_file(dataset: SavedDataset, model: str, version: int) -> Path:
    """Where the profile of ``model`` version ``version``'s predictions on ``dataset`` lives."""
    stem = dataset.path.stem
    fingerprint = dataset.entity_fingerprint[:12]
    name = f"{stem}.predictions-{model}-v{version}-{fingerprint}.profile.json"
    return dataset.path.with_name(name)


def prediction_profile(
    dataset: SavedDataset,
    model: ServedModel,
    *,
    on_rows: Callable[[int], None] | None = None,
) -> Profile:
    """The profile of ``prediction`` and the ``probability_<class>`` columns ``model`` gives
    on ``dataset``'s rows: read from its file beside the dataset, else scored and stored.

    Args:
        dataset: the reference dataset.
        model: the loaded model version.
        on_rows: called with the rows of each scored batch (a progress bar's step).

    Raises:
        SourceNotFoundError: the profile is not stored and the dataset's file is missing.
        ProfileError: the stored profile cannot be read.
    """
    path = prediction_profile_file(dataset, model.name, model.version)
    if path.exists():
        try:
            return Profile.load(path)
        except (OSError, ValueError) as exc:
            raise ProfileError(
                f"the profile of {model.name!r} v{model.version}'s predictions on dataset "
                f"{dataset.name!r} ({path}) cannot be read ({exc}): delete it, and it is "
                "scored again"
            ) from exc
    if not dataset.path.exists():
        raise SourceNotFoundError(
            f"the file of dataset {dataset.name!r} is missing ({dataset.path}), so the "
            f"predictions of {model.name!r} v{model.version} on it cannot be scored: restore "
            "the file, or compare predictions with another dataset (--reference)"
        )
    scorer = BatchScorer(model, entity_columns=[])
    columns = list(model.lineage.feature_columns)
    parts: list[Profile] = []
    for batch in pq.ParquetFile(dataset.path).iter_batches(SCORING_BATCH_ROWS, columns=columns):
        scored = scorer.score(batch)
        keep = [c for c in scored.column_names if _is_prediction(c)]
        parts.append(build_profile(scored.select(keep)))
        if on_rows is not None:
            on_rows(batch.num_rows)
    profile = Profile.merge_all(parts)
    profile.save(path)
    return profile


def _is_prediction(column: str) -> bool:
    return column == PREDICTION or column.startswith(PROBABILITY_PREFIX)
