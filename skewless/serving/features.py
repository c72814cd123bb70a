"""Fetching the features a model needs from the online store, by its lineage.

The model's lineage names its feature refs and input columns; :class:`FeatureFetcher`
reads those refs for the entity keys of a request (plus any request data an on-demand view
needs) through the online reader, exactly as ``skewless.models.get_features_for`` does, and
returns the model's input frame in its column order with the rows whose features are missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skewless.errors import EntityFrameError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from skewless.models.lineage import Lineage
    from skewless.online_response import OnlineResponse

__all__ = ["MISSING_POLICIES", "FeatureFetcher", "FetchedFeatures", "OnlineRead"]

MISSING_POLICIES = ("error", "null")
"""``error``: a request with an entity whose features are missing answers 422 naming the
keys. ``null``: that entity's prediction (and probabilities) are null; the others are scored."""

_MISSING_STATUSES = frozenset({"NOT_FOUND", "OUTSIDE_MAX_AGE"})

OnlineRead = Callable[[list[str], Mapping[str, Sequence[Any]], bool], "OnlineResponse"]
"""``read(feature_refs, entity_columns, full_feature_names)``: an online read
(``OnlineReader.read``)."""


@dataclass(frozen=True)
class FetchedFeatures:
    """The model's inputs for a list of entities.

    Attributes:
        table: the input columns in the model's order, one row per entity, with the
            features' declared types.
        missing: indexes of the entities with a NOT_FOUND or OUTSIDE_MAX_AGE feature.
    """

    table: pa.Table
    missing: list[int]

    def frame(self, rows: list[int] | None = None) -> pd.DataFrame:
        """The model's input frame of ``rows`` (all by default), typed as ``to_df`` types
        an online read: an integer feature stays integer unless one of these rows is null.
        """
        table = (
            self.table if rows is None or len(rows) == len(self.table) else (self.table.take(rows))
        )
        return table.to_pandas()


class FeatureFetcher:
    """Reads a model's features online.

    Args:
        read: the online read to use.
        lineage: the model's lineage (its refs and column order).
    """

    def __init__(self, read: OnlineRead, lineage: Lineage) -> None:
        self._read = read
        self.lineage = lineage
        self._refs = list(lineage.feature_refs)
        self._columns = list(lineage.feature_columns)
        self._full = lineage.full_feature_names

    def fetch(
        self, entities: Mapping[str, Sequence[Any]], request: Mapping[str, Sequence[Any]] | None
    ) -> FetchedFeatures:
        """The model's input frame for ``entities`` (``{join_key: [values]}``).

        Raises:
            EntityFrameError: keys of the wrong type, unknown key columns, request data of
                another length (the online reader's checks).
        """
        columns: dict[str, Sequence[Any]] = dict(entities)
        if request:
            rows = len(next(iter(entities.values()), ()))
            for name, values in request.items():
                if name in columns:
                    raise EntityFrameError(
                        f"request data column {name!r} is also an entity key: send it once"
                    )
                if len(values) != rows:
                    raise EntityFrameError(
                        f"request data column {name!r} has {len(values)} values for {rows} "
                        "entities: send one value per entity"
                    )
                columns[name] = values
        response = self._read(self._refs, columns, self._full)
        statuses = response.statuses
        missing = sorted(
            {
                i
                for name in self._columns
                for i, status in enumerate(statuses[name])
                if status in _MISSING_STATUSES
            }
        )
        return FetchedFeatures(response.to_arrow().select(self._columns), missing)
