"""Scoring one batch of retrieved rows: the model's input frame in, the output columns out.

The same :class:`BatchScorer` runs in the driver (DuckDB) and on Spark executors, so both
engines write the same columns with the same types: the entity columns (``event_timestamp``
as UTC), optionally the features, ``prediction``, one ``probability_<class>`` column per
class for a classifier, then ``model_name`` and ``model_version``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from skewless._types import parse_document_columns
from skewless.errors import EntityFrameError, ModelPredictionError

if TYPE_CHECKING:
    from skewless.serving.model import ServedModel

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
    "PREDICTION",
    "PROBABILITY_PREFIX",
    "BatchScorer",
    "check_output_names",
]

PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"


def _probability_names(model: ServedModel, width: int | None = None) -> list[str]:
    if not model.is_classifier:
        return []
    classes = model.classes
    if classes is not None and (width is None or len(classes) == width):
        return [f"{PROBABILITY_PREFIX}{c}" for c in classes]
    return [f"{PROBABILITY_PREFIX}{i}" for i in range(width or 0)]


def check_output_names(model: ServedModel, entity_columns: Sequence[str]) -> None:
    """Refuse an entity frame with a column the output writes itself.

    Raises:
        EntityFrameError: naming the column and saying to rename it.
    """
    taken = {PREDICTION, MODEL_NAME, MODEL_VERSION, *_probability_names(model)}
    clash = sorted(c for c in entity_columns if c in taken or c.startswith(PROBABILITY_PREFIX))
    if clash:
        raise EntityFrameError(
            f"the entity frame has column(s) {clash}, which batch predictions of model "
            f"{model.name!r} write themselves: rename or drop them"
        )


class BatchScorer:
    """Turns retrieved rows into output rows with one model version.

    Args:
        model: the loaded version.
        entity_columns: the entity columns copied to the output, in order.
        include_features: also copy the model's input columns (after the entity columns).
        schema: the output schema, when already known (every batch is cast to it).

    Attributes:
        model_seconds: time spent in ``model.predict`` so far.
    """

    def __init__(
        self,
        model: ServedModel,
        entity_columns: Sequence[str],
        include_features: bool = False,
        schema: pa.Schema | None = None,
    ) -> None:
        self.model = model
        self.entity_columns = list(entity_columns)
        self.feature_columns = list(model.lineage.feature_columns)
        self.include_features = include_features
        self.schema = schema
        self.model_seconds = 0.0

    def inputs(self, table: pa.Table | pa.RecordBatch) -> Any:
        """The model's input frame: the feature columns as ``RetrievalJob.to_df`` gives them."""
        features = table.select(self.feature_columns)
        if isinstance(features, pa.RecordBatch):
            features = pa.Table.from_batches([features])
        return parse_document_columns(features.to_pandas(), features)

    def score(self, table: pa.Table | pa.RecordBatch) -> pa.Table:
        """The output rows of ``table`` (entity columns and the model's inputs)."""
        frame = self.inputs(table)
        began = time.perf_counter()
        predictions, probabilities = self.model.predict(frame)
        self.model_seconds += time.perf_counter() - began
        names = [*self.entity_columns]
        if self.include_features:
            names += [c for c in self.feature_columns if c not in names]
        columns: list[Any] = [table.column(c) for c in names]
        columns.append(self._predictions(predictions))
        if self.model.is_classifier:
            width = len(probabilities[0]) if probabilities else None
            prob_names = _probability_names(self.model, width)
            if probabilities is None:
                matrix = np.full((table.num_rows, len(prob_names)), np.nan)
            else:
                matrix = np.asarray(probabilities, dtype=np.float64).reshape(
                    table.num_rows, len(prob_names)
                )
            names.append(PREDICTION)
            names += prob_names
            columns += [pa.array(matrix[:, i]) for i in range(len(prob_names))]
        else:
            names.append(PREDICTION)
        rows = table.num_rows
        names += [MODEL_NAME, MODEL_VERSION]
        columns.append(pa.array(np.full(rows, self.model.name, dtype=object), pa.string()))
        columns.append(pa.array(np.full(rows, self.model.version, dtype=np.int64)))
        out = pa.Table.from_arrays(
            [c if isinstance(c, pa.ChunkedArray) else pa.chunked_array([c]) for c in columns],
            names=names,
        )
        if self.schema is None:
            self.schema = out.schema
            return out
        return self._cast(out)

    def _predictions(self, predictions: list[Any]) -> pa.Array:
        kind = self.schema.field(PREDICTION).type if self.schema is not None else None
        try:
            return pa.array(predictions, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ModelPredictionError(
                f"model {self.model.name!r} version {self.model.version} returned predictions "
                f"that do not fit one column type ({exc}); return one value of one type per row"
            ) from None

    def _cast(self, out: pa.Table) -> pa.Table:
        assert self.schema is not None
        if out.schema.equals(self.schema):
            return out
        try:
            return out.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise ModelPredictionError(
                f"batch predictions of model {self.model.name!r}: a batch came out with "
                f"columns {out.schema.types} where the first had {self.schema.types} ({exc}); "
                "give the entity columns one type throughout the file"
            ) from None
