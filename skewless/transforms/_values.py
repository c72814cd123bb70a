"""The value shapes a transformation accepts: a scalar, a list, or a pandas Series.

An on-demand function sees lists of plain Python values in ``mode="python"`` (None for null)
and pandas Series in ``mode="pandas"`` (NaN, ``pd.NA`` or ``NaT`` for null). Every building
block takes either and answers in the same shape: a list for lists, a Series (on the first
Series argument's index) for Series, a scalar for scalars. Scalars broadcast against lists and
Series. pandas is only imported when a Series is passed, so python-mode functions never load it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "Shape",
    "floats",
    "is_null",
    "is_series",
    "nan_to_none",
    "per_value",
    "shape_of",
    "to_float",
]


def is_series(value: Any) -> bool:
    """Whether ``value`` is a pandas Series (without importing pandas)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.Series)


def is_null(value: Any) -> bool:
    """None, a float NaN, ``pd.NA`` and ``pd.NaT`` are null.

    Example:
        >>> is_null(None), is_null(float("nan")), is_null(0.0), is_null("")
        (True, True, False, False)
    """
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    pd = sys.modules.get("pandas")
    if pd is not None and (value is pd.NA or value is pd.NaT):
        return True
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.floating | np.datetime64 | np.timedelta64):
        return bool(np.isnan(value))
    return False


def to_float(value: Any, what: str) -> float:
    """A non-null number as a float (ints round to the nearest float, as numpy does).

    Raises:
        TypeError: ``value`` is not a number (strings are refused, never parsed).
    """
    if isinstance(value, str | bytes) or not _is_number(value):
        raise TypeError(f"{what}: expected a number, got {type(value).__name__} {value!r}")
    return float(value)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class Shape:
    """How the arguments of one call are shaped: ``kind`` is scalar, list or series.

    ``n`` is the common length (lists and Series must agree); ``index`` the index of the
    first Series argument.
    """

    def __init__(self, kind: str, n: int, index: Any) -> None:
        self.kind = kind
        self.n = n
        self.index = index

    def lists(self, *values: Any) -> list[list[Any]]:
        """Each argument as a list of ``n`` values (scalars repeated, Series unwrapped)."""
        out = []
        for value in values:
            if is_series(value):
                out.append(value.tolist())
            elif isinstance(value, list | tuple):
                out.append(list(value))
            else:
                out.append([value] * self.n)
        return out

    def series(self, value: Any) -> Any:
        """An argument as a Series on ``index`` (lists and scalars converted)."""
        import pandas as pd

        if is_series(value):
            if len(value) == self.n and value.index is self.index:
                return value
            return pd.Series(value.to_numpy(), index=self.index, dtype=value.dtype)
        if isinstance(value, list | tuple):
            return pd.Series(list(value), index=self.index, dtype=object)
        return pd.Series([value] * self.n, index=self.index, dtype=object)

    def wrap(self, values: list[Any], dtype: str = "object") -> Any:
        """Per-value results (scalar shape: one value) in the call's shape."""
        if self.kind == "scalar":
            return values[0]
        if self.kind == "list":
            return values
        import pandas as pd

        return pd.Series(values, index=self.index, dtype=dtype)


def shape_of(what: str, *values: Any) -> Shape:
    """The shape of a call on ``values``.

    Raises:
        ValueError: lists or Series of different lengths.
        TypeError: a numpy array or another container (pass a list or a Series).
    """
    kind, n, index = "scalar", 1, None
    lengths = []
    for value in values:
        if is_series(value):
            if kind != "series":
                kind, index = "series", value.index
            lengths.append(len(value))
        elif isinstance(value, list | tuple):
            if kind == "scalar":
                kind = "list"
            lengths.append(len(value))
        elif hasattr(value, "__array__") or isinstance(value, set | dict):
            raise TypeError(
                f"{what}: got a {type(value).__name__}; pass a list, a pandas Series or one value"
            )
    if lengths:
        n = lengths[0]
        if any(length != n for length in lengths):
            raise ValueError(f"{what}: the inputs have different lengths {lengths}")
    return Shape(kind, n, index)


def floats(series: Any, what: str) -> Any:
    """A Series of numbers as a float64 numpy array, NaN for null.

    Raises:
        TypeError: the Series holds strings or other non-numbers.
    """
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind not in (
            "integer",
            "floating",
            "mixed-integer-float",
            "boolean",
            "empty",
            "decimal",
        ):
            raise TypeError(f"{what}: expected numbers, got values of kind {kind!r}")
    elif not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
        raise TypeError(f"{what}: expected numbers, got a Series of {dtype}")
    return np.asarray(series.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")


def per_value(
    what: str, function: Callable[..., Any], values: Sequence[Any], dtype: str = "object"
) -> Any:
    """Apply a per-value ``function`` to the zipped ``values`` in their shape (for blocks whose
    work is per value in any case, such as building strings)."""
    shape = shape_of(what, *values)
    columns = shape.lists(*values)
    results = [function(*row) for row in zip(*columns, strict=True)]
    return shape.wrap(results, dtype)


def nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value
