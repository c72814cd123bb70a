"""Entity rows of an online read: their shapes, and key values checked against key types.

The rules are docs/semantics.md "Time, keys, TTL" and "Online reads". Entity rows come as a
list of dicts, a dict of lists or a frame; they become one list of values per column. A key
whose value has a type its declared key type cannot hold (the string ``"1001"`` for an Int64
key) is an error naming the key and both types, never a silent ``NOT_FOUND``; lossless forms
are accepted (``1001.0`` for an Int64 key, as JSON numbers often arrive). Key types come from
the view's schema (a field named like the join key) or the entity's ``value_type``; a key
with neither declared is not checked.

Example:
    >>> from skewless._types import Int64
    >>> checks = (KeyCheck("user_id", Int64, "feature view 'stats'"),)
    >>> check_keys(checks, {"user_id": [1001, 1002.0]})
    >>> check_keys(checks, {"user_id": ["1001"]})
    Traceback (most recent call last):
    ...
    skewless.errors.EntityFrameError: entity key 'user_id' takes Int64 values ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from skewless._types import (
    Bool,
    Bytes,
    DType,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)
from skewless.definitions import Entity, FeatureView
from skewless.errors import EntityFrameError

__all__ = ["EntityRows", "KeyCheck", "check_keys", "entity_columns", "key_checks", "quick_types"]

EntityRows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
"""A list of ``{join_key: value}`` dicts, or ``{join_key: [values]}`` (one value per entity)."""


# -- key types -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyCheck:
    """One join key, its declared type and who declares it (for the error message)."""

    key: str
    dtype: DType
    declared_by: str


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False


def _integer(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and float(value).is_integer()


def _number(value: Any) -> bool:
    return not isinstance(value, bool | np.bool_) and isinstance(
        value, int | float | np.integer | np.floating
    )


_FITS: dict[DType, tuple[frozenset[type], Callable[[Any], bool]]] = {
    Int64: (frozenset({int}), _integer),
    Int32: (frozenset({int}), _integer),
    Float64: (frozenset({int, float}), _number),
    Float32: (frozenset({int, float}), _number),
    String: (frozenset({str}), lambda v: isinstance(v, str)),
    Bytes: (frozenset({bytes}), lambda v: isinstance(v, bytes | bytearray | memoryview)),
    Bool: (frozenset({bool}), lambda v: isinstance(v, bool | np.bool_)),
    UnixTimestamp: (frozenset({datetime}), lambda v: isinstance(v, datetime | np.datetime64)),
}

_GIVEN = {
    str: "a string",
    int: "an integer",
    float: "a float",
    bool: "a boolean",
    bytes: "bytes",
    list: "a list",
    dict: "an object",
}

_HINTS = {
    "Int64": 'send whole numbers, e.g. 1001 (not "1001")',
    "Int32": 'send whole numbers, e.g. 1001 (not "1001")',
    "Float64": "send numbers",
    "Float32": "send numbers",
    "String": 'send text, e.g. "1001"',
    "Bytes": "send bytes",
    "Bool": "send true or false",
    "UnixTimestamp": "send datetime values",
}


def key_checks(view: FeatureView, entities: Mapping[str, Entity]) -> tuple[KeyCheck, ...]:
    """The key checks of ``view``: its schema's type for a join key, else the entity's."""
    declared = {f.name: f.dtype for f in view.schema}
    checks = []
    for ent in view.entities:
        registered = entities.get(ent.name, ent)
        for key in ent.join_keys:
            if key in declared:
                checks.append(KeyCheck(key, declared[key], f"feature view {view.name!r}"))
            elif registered.value_type is not None:
                checks.append(KeyCheck(key, registered.value_type, f"entity {ent.name!r}"))
    return tuple(c for c in checks if c.dtype in _FITS)


def quick_types(check: KeyCheck) -> frozenset[type]:
    """The value classes ``check`` accepts at a glance; others get :func:`check_keys`' closer
    look (lossless forms such as ``1001.0`` for an Int64 key pass it)."""
    return _FITS[check.dtype][0]


def check_keys(checks: Iterable[KeyCheck], columns: Mapping[str, Sequence[Any]]) -> None:
    """Raise when a key value cannot be a value of its declared type (nulls are fine).

    Raises:
        EntityFrameError: naming the key, the row, the value, its type and the declared one.
    """
    for check in checks:
        values = columns.get(check.key)
        if not values:
            continue
        fast, fits = _FITS[check.dtype]
        if set(map(type, values)) <= fast:
            continue
        for row, value in enumerate(values):
            if not fits(value) and not _missing(value):
                given = _GIVEN.get(type(value), f"a {type(value).__name__}")
                raise EntityFrameError(
                    f"entity key {check.key!r} takes {check.dtype} values ({check.declared_by}) "
                    f"but row {row} gives {given}, {value!r}: {_HINTS[check.dtype.name]}"
                )


# -- shapes ----------------------------------------------------------------------------------
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
