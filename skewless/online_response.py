"""The answer of an online read: values, statuses and event times (docs/semantics.md
"Online reads")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skewless._contracts import StoredRow
from skewless._time import from_micros
from skewless._types import parse_documents
from skewless.online.codec import Decoder

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OnlineResponse", "Status", "ViewPlan", "ViewResult"]


class Status:
    """The status of one value of an online read (Feast's ``FieldStatus`` names)."""

    PRESENT = "PRESENT"
    NULL_VALUE = "NULL_VALUE"
    NOT_FOUND = "NOT_FOUND"
    OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


@dataclass(frozen=True, slots=True)
class ViewPlan:
    """How one feature view of a request is read (compiled once per request)."""

    name: str
    table: str
    join_keys: tuple[str, ...]
    encode: Callable[[Any], bytes | None]
    decode: Decoder
    output_names: tuple[str, ...]
    arrow_types: tuple[pa.DataType, ...]
    ttl_us: int | None
    empty: tuple[Any, ...]
    evaluate: Callable[[bytes, int], Sequence[Any]] | None = None
    documents: frozenset[str] = frozenset()  # outputs held as JSON text (Map, Json)


ViewResult = tuple[ViewPlan, list[StoredRow | None], int, list[list[Any]]]
"""One view's part of a response: its plan, stored rows, TTL cutoff and feature columns."""

_NO_COMPUTED: Mapping[str, pa.DataType] = {}


class OnlineResponse:
    """The result of an online read: one value per entity row and output column.

    Columns are the join keys (as given, in ``entity_rows`` order) followed by the features
    (views in order of first appearance, features in request order).
    """

    __slots__ = ("_columns", "_computed", "_keys", "_views")

    def __init__(
        self,
        columns: dict[str, list[Any]],
        keys: tuple[str, ...],
        views: list[ViewResult],
        computed: Mapping[str, pa.DataType] | None = None,
    ) -> None:
        self._columns = columns
        self._keys = keys
        self._views = views
        self._computed = computed or _NO_COMPUTED

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name to list of values, join keys first (Feast's shape); ``Map`` and
        ``Json`` values are parsed into Python objects.

        >>> OnlineResponse({"user_id": [1], "f": [None]}, ("user_id",), []).to_dict()
        {'user_id': [1], 'f': [None]}
        """
        out = dict(self._columns)
        for view in self._views:
            documents = view[0].documents
            if documents:
                for name in documents & out.keys():
                    out[name] = parse_documents(out[name])
        return out

    @property
    def feature_names(self) -> list[str]:
        """Every output column name: join keys first, then features."""
        return list(self._columns)

    @property
    def statuses(self) -> dict[str, list[str]]:
        """The status of every value, in the shape of :meth:`to_dict` (join keys: PRESENT)."""
        out: dict[str, list[str]] = {
            k: [Status.PRESENT if v is not None else Status.NULL_VALUE for v in self._columns[k]]
            for k in self._keys
        }
        for plan, stored, cutoff, columns in self._views:
            row_status = [
                Status.NOT_FOUND if s is None else Status.OUTSIDE_MAX_AGE if s[0] < cutoff else None
                for s in stored
            ]
            for name, values in zip(plan.output_names, columns, strict=True):
                out[name] = [
                    st if st is not None else (Status.NULL_VALUE if v is None else Status.PRESENT)
                    for st, v in zip(row_status, values, strict=True)
                ]
        if self._computed:
            for name in self._computed:
                values = self._columns[name]
                out[name] = [Status.NULL_VALUE if v is None else Status.PRESENT for v in values]
            out = {name: out[name] for name in self._columns}
        return out

    @property
    def event_timestamps(self) -> dict[str, list[datetime | None]]:
        """The event time (aware UTC) of the stored row behind each value; None without one.

        Join keys have None.
        """
        out: dict[str, list[datetime | None]] = {
            k: [None] * len(self._columns[k]) for k in self._keys
        }
        for plan, stored, _, _ in self._views:
            times = [None if s is None else from_micros(s[0]) for s in stored]
            for name in plan.output_names:
                out[name] = list(times)
        if self._computed:
            for name in self._computed:
                out[name] = [None] * len(self._columns[name])
            out = {name: out[name] for name in self._columns}
        return out

    def to_arrow(self) -> pa.Table:
        """A table with the features' declared types (join keys typed from their values)."""
        arrays: dict[str, pa.Array] = {k: pa.array(self._columns[k]) for k in self._keys}
        for plan, _, _, columns in self._views:
            for name, kind, values in zip(
                plan.output_names, plan.arrow_types, columns, strict=True
            ):
                arrays[name] = pa.array(values, type=kind)
        if self._computed:
            for name, kind in self._computed.items():
                arrays[name] = pa.array(self._columns[name], type=kind)
            arrays = {name: arrays[name] for name in self._columns}
        return pa.table(arrays)

    def to_df(self) -> pd.DataFrame:
        """A pandas DataFrame with Feast's types (an int feature with nulls is float64;
        ``Map`` and ``Json`` values parsed into Python objects)."""
        import pandas as pd

        frame = self.to_arrow().to_pandas()
        for plan, *_ in self._views:
            for name in plan.documents & set(frame.columns):
                values = parse_documents(self._columns[name])
                frame[name] = pd.Series(values, index=frame.index, dtype=object)
        return frame

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()), ()))

    def __repr__(self) -> str:
        return f"OnlineResponse({len(self)} rows, columns={list(self._columns)})"
