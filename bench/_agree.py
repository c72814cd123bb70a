"""Agreement checks: every variant a benchmark times must give the same answer.

A benchmark computes each variant's result once on the same input, then calls
:func:`require_same_tables` (or :func:`require_equal`) with the reference result. On a
disagreement it exits non-zero with a line naming the variants, the column and the first row
that differ, so a floor that answers another question can never be reported as a floor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Disagreement", "require_equal", "require_same_tables", "same_tables"]


class Disagreement(SystemExit):
    """Raised (an exit with a message, so the process ends non-zero) on a disagreement."""


def _fail(message: str) -> Disagreement:
    return Disagreement(f"bench: variants disagree: {message}")


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def same_tables(
    reference: pa.Table,
    other: pa.Table,
    *,
    sort_by: Sequence[str] | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> str | None:
    """None when the tables hold the same rows, else what differs first.

    Both tables are sorted by ``sort_by`` (default: every column of ``reference``) so row order
    does not matter; ``other``'s columns are cast to ``reference``'s types. Floating-point
    columns agree within ``abs(a - b) <= atol + rtol * abs(a)`` (exact when both are 0), null
    only where the other is null; every other column must be equal.
    """
    missing = [c for c in reference.column_names if c not in other.column_names]
    if missing:
        return f"columns {missing} are missing (has {other.column_names})"
    if reference.num_rows != other.num_rows:
        return f"{other.num_rows:,} rows instead of {reference.num_rows:,}"
    keys = list(sort_by or reference.column_names)
    order = [(k, "ascending") for k in keys]
    a = reference.sort_by(order)
    b = other.select(reference.column_names).sort_by(order)
    for name in reference.column_names:
        x, y = a.column(name), b.column(name).cast(a.column(name).type)
        if pa.types.is_floating(x.type) and (rtol or atol):
            xs, ys = _floats(x), _floats(y)
            nulls = np.asarray(x.is_null()), np.asarray(y.is_null())
            close = np.isclose(xs, ys, rtol=rtol, atol=atol, equal_nan=True)
            bad = np.flatnonzero((nulls[0] != nulls[1]) | (~nulls[0] & ~close))
        else:
            if x.equals(y):
                continue
            same = pc.fill_null(pc.equal(x, y), False)
            both_null = pc.and_(x.is_null(), y.is_null())
            bad = np.flatnonzero(~np.asarray(pc.or_(same, both_null)))
        if len(bad):
            i = int(bad[0])
            row = {k: a.column(k)[i].as_py() for k in keys}
            return (
                f"column {name!r}, {len(bad):,} rows differ; first at {row}: "
                f"{x[i].as_py()!r} against {y[i].as_py()!r}"
            )
    return None


def require_same_tables(
    reference_name: str,
    reference: pa.Table,
    name: str,
    other: pa.Table,
    *,
    sort_by: Sequence[str] | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> None:
    """Exit non-zero unless ``other`` (variant ``name``) equals ``reference``."""
    problem = same_tables(reference, other, sort_by=sort_by, rtol=rtol, atol=atol)
    if problem is not None:
        raise _fail(f"{name} against {reference_name}: {problem}")


def require_equal(reference_name: str, reference: object, name: str, other: object) -> None:
    """Exit non-zero unless two plain Python values (lists, tuples, bytes) are equal."""
    if reference == other:
        return
    if isinstance(reference, list | tuple) and isinstance(other, list | tuple):
        if len(reference) != len(other):
            count = f"{len(other)} items, not {len(reference)}"
            raise _fail(f"{name} against {reference_name}: {count}")
        i = next(i for i, (p, q) in enumerate(zip(reference, other, strict=True)) if p != q)
        raise _fail(
            f"{name} against {reference_name}: item {i}: {other[i]!r} instead of {reference[i]!r}"
        )
    raise _fail(f"{name} against {reference_name}: {other!r} instead of {reference!r}")
