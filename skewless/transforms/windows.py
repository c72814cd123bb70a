"""Window aggregations in bulk: rolling statistics over several windows, per-entity summaries.

These build :class:`~skewless.definitions.Aggregation` lists to pass to
``BatchFeatureView(aggregations=[...])``; the store computes them the same way offline (inside
point-in-time retrieval) and online. Names default to Aggregation's
``{function}_{column}_{window}``; ``name_template`` formats them otherwise, with the fields
``column``, ``function`` and ``window`` (the window label: ``7d``, ``1h``, ``lifetime``).

Example:
    >>> from datetime import timedelta
    >>> [a.name for a in rolling("amount")]
    ['mean_amount_7d', 'mean_amount_30d']
    >>> [a.name for a in rolling("amount", functions=("mean", "max"),
    ...                          windows=(timedelta(days=1), timedelta(days=7)),
    ...                          name_template="{column}_{function}_{window}")]
    ['amount_mean_1d', 'amount_mean_7d', 'amount_max_1d', 'amount_max_7d']
    >>> [a.name for a in aggregations("amount")]  # doctest: +NORMALIZE_WHITESPACE
    ['count_amount_lifetime', 'count_distinct_amount_lifetime', 'sum_amount_lifetime',
     'mean_amount_lifetime', 'max_amount_lifetime', 'std_amount_lifetime']
    >>> [a.name for a in aggregations("category", functions=("nunique",),
    ...                               window=timedelta(days=30))]
    ['count_distinct_category_30d']
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from skewless.definitions.aggregation import AGGREGATION_FUNCTIONS, Aggregation, window_label
from skewless.errors import DefinitionError

__all__ = ["DEFAULT_WINDOWS", "FUNCTION_ALIASES", "aggregations", "rolling"]

DEFAULT_WINDOWS: tuple[timedelta, ...] = (timedelta(days=7), timedelta(days=30))
"""The windows of the 7d/30d trend pattern."""

FUNCTION_ALIASES: dict[str, str] = {"nunique": "count_distinct", "avg": "mean", "average": "mean"}
"""pandas-style names accepted for aggregation functions."""

_SUMMARY = ("count", "count_distinct", "sum", "mean", "max", "std")


def rolling(
    column: str,
    functions: str | Sequence[str] = ("mean",),
    windows: timedelta | Sequence[timedelta | None] | None = DEFAULT_WINDOWS,
    name_template: str | None = None,
) -> list[Aggregation]:
    """One aggregation of ``column`` per function and window: rolling statistics.

    Args:
        column: the raw event column (declared in the view's ``schema``).
        functions: aggregation function name(s): count, count_distinct (or nunique), sum,
            mean, min, max, std, last.
        windows: window length(s); None is lifetime. Default 7 and 30 days.
        name_template: a ``str.format`` template with ``{column}``, ``{function}`` and
            ``{window}``; by default Aggregation's ``{function}_{column}_{window}``.

    Returns:
        The aggregations, function by function, each over every window in order.

    Raises:
        DefinitionError: no function or window, an unknown function, a window that is not
            positive, a bad template, or two aggregations with the same name.
    """
    names = _functions(functions, column)
    spans = _windows(windows, column)
    out = [_aggregation(column, f, w, name_template) for f in names for w in spans]
    labels = [a.name for a in out]
    dupes = sorted({n for n in labels if labels.count(n) > 1})
    if dupes:
        raise DefinitionError(
            f"aggregations of {column!r}: several are named {dupes}; list each function and "
            "window once, or put {function} and {window} in name_template"
        )
    return out


def aggregations(
    column: str,
    functions: str | Sequence[str] = _SUMMARY,
    window: timedelta | None = None,
    name_template: str | None = None,
) -> list[Aggregation]:
    """Per-entity summary statistics of ``column`` over one window (lifetime by default).

    The seed's ``groupby(entity).agg(count, nunique, sum, mean, max, std)``, kept current
    at every point in time.

    Args:
        column: the raw event column (declared in the view's ``schema``).
        functions: function name(s); by default count, count_distinct, sum, mean, max, std
            (sum, mean, max and std need a numeric column).
        window: the window length; None (default) aggregates each key's whole history.
        name_template: as for :func:`rolling`.

    Returns:
        One aggregation per function, in order.

    Raises:
        DefinitionError: as for :func:`rolling`.
    """
    return rolling(column, functions, (window,), name_template)


def _functions(functions: str | Sequence[str], column: str) -> list[str]:
    listed = [functions] if isinstance(functions, str) else list(functions or ())
    if not listed:
        raise DefinitionError(f"aggregations of {column!r}: no function given; pass e.g. 'mean'")
    out = []
    for f in listed:
        name = FUNCTION_ALIASES.get(f, f) if isinstance(f, str) else f
        if name not in AGGREGATION_FUNCTIONS:
            raise DefinitionError(
                f"aggregations of {column!r}: unknown function {f!r}; use one of "
                f"{', '.join(AGGREGATION_FUNCTIONS)} (or nunique)"
            )
        out.append(name)
    return out


def _windows(
    windows: timedelta | Sequence[timedelta | None] | None, column: str
) -> list[timedelta | None]:
    if windows is None or isinstance(windows, timedelta):
        return [windows]
    if isinstance(windows, str | bytes):
        raise DefinitionError(
            f"aggregations of {column!r}: windows must be timedelta(s), got {windows!r}; "
            "write e.g. timedelta(days=7)"
        )
    listed = list(windows)
    if not listed:
        raise DefinitionError(f"aggregations of {column!r}: no window given")
    return listed


def _aggregation(
    column: str, function: str, window: timedelta | None, template: str | None
) -> Aggregation:
    name = None
    if template is not None:
        try:
            name = template.format(
                column=column,
                function=function,
                window=window_label(window) if isinstance(window, timedelta | None) else window,
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise DefinitionError(
                f"name_template {template!r}: {exc!r}; use only {{column}}, {{function}} and "
                "{window}"
            ) from exc
    return Aggregation(column=column, function=function, time_window=window, name=name)
