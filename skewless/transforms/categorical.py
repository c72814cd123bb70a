"""Crossed categorical features: several values joined into one category, or hashed.

Each part is written as text the same way in every shape: strings as they are, integers in
decimal, whole floats as integers (``3.0`` -> ``"3"``, so an int column that pandas holds as
float64 because of nulls crosses like the int column), other floats by ``repr``, booleans as
``True``/``False``. A row with a null part is null.

With ``hash_buckets=n`` the joined text is hashed to a bucket ``0 ... n-1`` by a stable hash
(the first 8 bytes of BLAKE2b of its UTF-8 bytes, big-endian, modulo ``n``), the same in every
process and on every machine, unlike Python's salted ``hash()``.

Example:
    >>> cross(["young", "elder", None], ["f", "m", "f"])
    ['young_x_f', 'elder_x_m', None]
    >>> cross("gold", 3, separator="|")
    'gold|3'
    >>> cross(["young", "elder"], ["f", "m"], hash_buckets=1000)
    [821, 437]
    >>> import pandas as pd
    >>> cross(pd.Series(["young", "elder"]), pd.Series([1.0, None])).tolist()
    ['young_x_1', None]
"""

from __future__ import annotations

import hashlib
import math
import numbers
from typing import Any

from skewless.errors import DefinitionError
from skewless.transforms._values import Shape, is_null, per_value, shape_of

__all__ = ["cross", "stable_hash"]


def cross(*values: Any, separator: str = "_x_", hash_buckets: int | None = None) -> Any:
    """Cross categorical values: join each row's parts with ``separator``, or hash the join.

    Args:
        *values: one or more parts, each a value, a list (None for null) or a Series; scalars
            broadcast against lists and Series.
        separator: the text between parts.
        hash_buckets: when given, a positive int: each row becomes the bucket of its joined
            text (see :func:`stable_hash`) instead of the text.

    Returns:
        One string (or bucket int) per row, None when a part is null, in the inputs' shape;
        a Series is of dtype ``object`` (strings) or ``Int64`` (buckets).

    Raises:
        DefinitionError: no parts, a separator that is not a string, or ``hash_buckets`` not a
            positive int.
    """
    if not values:
        raise DefinitionError("cross: pass at least one value to cross")
    if not isinstance(separator, str):
        raise DefinitionError(f"cross: separator must be a string, got {separator!r}")
    if hash_buckets is not None and (
        isinstance(hash_buckets, bool) or not isinstance(hash_buckets, int) or hash_buckets < 1
    ):
        raise DefinitionError(f"cross: hash_buckets must be a positive int, got {hash_buckets!r}")

    def join(*parts: Any) -> Any:
        if any(is_null(p) for p in parts):
            return None
        text = separator.join(_text(p) for p in parts)
        return text if hash_buckets is None else stable_hash(text, hash_buckets)

    shape = shape_of("cross", *values)
    if shape.kind != "series":
        return per_value("cross", join, values)
    return _cross_series(shape, values, join, hash_buckets is not None)


def stable_hash(text: str, buckets: int) -> int:
    """The bucket ``0 ... buckets-1`` of ``text``: BLAKE2b (8 bytes, big-endian) modulo ``buckets``.

    Example:
        >>> stable_hash("young_x_f", 1000)
        821
    """
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


def _cross_series(shape: Shape, values: tuple[Any, ...], join: Any, hashed: bool) -> Any:
    """The Series path: each distinct combination of parts is joined (and hashed) once."""
    import numpy as np
    import pandas as pd

    n = shape.n
    combined = np.zeros(n, dtype="int64")
    null = np.zeros(n, dtype=bool)
    part_codes = []
    part_values = []
    for value in values:
        codes, uniques = _factorized(shape.series(value))
        null |= codes < 0
        combined = combined * (len(uniques) + 1) + (codes + 1)
        combined = pd.factorize(combined)[0]
        part_codes.append(codes)
        part_values.append(uniques)
    kinds = int(combined.max()) + 1 if n else 0
    first = np.zeros(kinds, dtype="int64")
    first[combined[::-1]] = np.arange(n - 1, -1, -1)
    results: list[Any] = []
    for row in first.tolist():
        if null[row]:
            results.append(None)
        else:
            results.append(join(*(u[c[row]] for c, u in zip(part_codes, part_values, strict=True))))
    if hashed:
        table = np.array([-1 if r is None else r for r in results], dtype="int64")
        out = pd.array(table[combined], dtype="Int64")
        out[null] = pd.NA
        return pd.Series(out, index=shape.index)
    picked = np.array(results, dtype=object)[combined] if n else np.array([], dtype=object)
    picked[null] = None
    return pd.Series(picked, index=shape.index, dtype=object)


def _factorized(series: Any) -> tuple[Any, list[Any]]:
    """Codes (-1 for null) and distinct values of a Series, telling apart values whose text
    differs: only Series of one kind of value are factorized as they are; others by text."""
    import pandas as pd

    kind = pd.api.types.infer_dtype(series, skipna=True)
    if not pd.api.types.is_object_dtype(series.dtype) or kind in ("string", "empty"):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        return codes, list(uniques)
    texts = [None if is_null(v) else _text(v) for v in series.tolist()]
    codes, uniques = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=True)
    return codes, list(uniques)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
        return repr(number)
    return str(value)
