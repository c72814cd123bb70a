"""Entity rows as users give them (list of dicts, dict of lists, Arrow/pandas/polars frames),
turned into ``{join_key: [values]}`` columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skewless.errors import EntityFrameError

__all__ = ["EntityRows", "entity_columns"]

EntityRows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
"""A list of ``{join_key: value}`` dicts, or ``{join_key: [values]}`` (one value per entity)."""


def entity_columns(entity_rows: Any) -> tuple[dict[str, list[Any]], int]:
    """Entity rows as ``{column: list}`` and the number of rows."""
    if entity_rows.__class__ is not list:  # a list needs no (slower) ABC checks
        if isinstance(entity_rows, Mapping):
            columns = {name: _as_list(values) for name, values in entity_rows.items()}
            return columns, _same_length(columns)
        if not isinstance(entity_rows, Sequence) or isinstance(entity_rows, str | bytes):
            columns = _frame_columns(entity_rows)
            return columns, _same_length(columns)
    n = len(entity_rows)
    if n == 0:
        return {}, 0
    first = entity_rows[0]
    if first.__class__ is not dict and not isinstance(first, Mapping):
        raise EntityFrameError(
            f"entity_rows must be a list of dicts or a dict of lists, got a list of "
            f"{type(first).__name__}: pass e.g. [{{'user_id': 1001}}]"
        )
    if n == 1:
        return {name: [value] for name, value in first.items()}, 1
    names = tuple(first)
    try:
        columns = {name: [row[name] for row in entity_rows] for name in names}
    except (KeyError, TypeError):
        columns = {}
    if not columns or sum(map(len, entity_rows)) != n * len(names):
        for i, row in enumerate(entity_rows):
            if not isinstance(row, Mapping) or set(row) != set(names):
                got = sorted(row) if isinstance(row, Mapping) else type(row).__name__
                raise EntityFrameError(
                    f"entity row {i} has columns {got} but row 0 has {sorted(names)}: "
                    "give every entity row the same join keys"
                ) from None
    return columns, n


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, list):
        return values[:]  # the response's columns are its own
    if hasattr(values, "to_pylist"):  # pyarrow
        as_list: list[Any] = values.to_pylist()
        return as_list
    if hasattr(values, "tolist"):  # numpy, pandas
        as_list = values.tolist()
        return as_list
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise EntityFrameError(
            f"entity_rows given as a dict need a list of values per column, got {values!r}: "
            "pass e.g. {'user_id': [1001, 1002]}"
        )
    return list(values)


def _frame_columns(frame: Any) -> dict[str, list[Any]]:
    if hasattr(frame, "to_pydict"):  # pyarrow.Table
        columns: dict[str, list[Any]] = frame.to_pydict()
        return columns
    if hasattr(frame, "columns") and hasattr(frame, "__getitem__"):  # pandas / polars
        return {str(name): _as_list(frame[name]) for name in frame.columns}
    raise EntityFrameError(
        f"entity_rows must be a list of dicts or a dict of lists, got {type(frame).__name__}: "
        "pass e.g. [{'user_id': 1001}]"
    )


def _same_length(columns: dict[str, list[Any]]) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise EntityFrameError(
            f"entity_rows columns have different lengths {lengths}: give every column one "
            "value per entity"
        )
    return next(iter(lengths.values()), 0)
