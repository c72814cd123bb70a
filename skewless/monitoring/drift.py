"""``drift_report``: how today's data compares with the reference, column by column.

The default test of each column is the one Evidently 0.7's ``DataDriftPreset`` picks, so a
team that switches gets the same verdicts; see docs/monitoring.md, "drift_report". The
reference is rows (a frame, a table, Parquet) or a stored profile (a :class:`Profile`, or a
saved dataset's by name); the plan reads either side's columns through :class:`_Columns`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skewless.errors import DriftInputError, ProfileError, UnknownObjectError
from skewless.monitoring.column_drift import ColumnPlan, Kind, compare_column
from skewless.monitoring.log_window import LogWindow
from skewless.monitoring.profile import ColumnProfile, Profile
from skewless.monitoring.profile_drift import compare_to_profile
from skewless.monitoring.profile_store import dataset_profile
from skewless.monitoring.report import ColumnDrift, DriftReport
from skewless.monitoring.stat_tests import TEST_NAMES
from skewless.monitoring.tables import read_table

if TYPE_CHECKING:
    from skewless.datasets import DatasetCatalog

__all__ = ["drift_report"]

Side = Any  # pandas/polars DataFrame, pyarrow Table or RecordBatch, Parquet path, LogWindow
Reference = Any  # a Side, a Profile, or a saved dataset's name (with datasets=)
_SHOWN_COLUMNS = 8
_INTEGER_TYPE = re.compile(r"(u?int\d+|Int\d+|dictionary<values=u?int\d+.*)")


def drift_report(
    reference: Reference,
    current: Side,
    numerical: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    tests: str | Mapping[str, str] | None = None,
    threshold: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    *,
    datasets: DatasetCatalog | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    Args:
        reference: the reference data (the training set): a pandas or polars DataFrame, a
            pyarrow Table, the path of a Parquet file or directory, a
            :class:`~skewless.monitoring.LogWindow` (e.g. last week's served features), a stored
            :class:`~skewless.monitoring.Profile`, or (with ``datasets``) the name of a saved
            dataset, whose stored profile is the reference and whose rows are not read.
            From a profile the statistics are exact or within the bounds of
            docs/monitoring.md, "From a stored profile".
        current: the data to check: a frame, a pyarrow Table, a Parquet path, or a
            :class:`~skewless.monitoring.LogWindow` (the feature values a model was served,
            its ``columns`` by default) (not a profile).
        numerical: the numerical columns to compare. With ``categorical``, names exactly the
            columns compared; when both are None every common column of a supported type is
            compared (numbers as numerical, text and booleans as categorical).
        categorical: the categorical columns to compare (numbers named here are compared as
            categories).
        tests: one test name for every column, or a mapping column -> test name; the other
            columns get the default test. Names: ``chisquare``, ``jensenshannon``,
            ``kl_div``, ``ks``, ``psi``, ``wasserstein``, ``z``.
        threshold: one threshold for every column, or a mapping column -> threshold; the
            others get their test's default.
        drift_share: the share of drifted columns at which the whole dataset drifts.
        datasets: the saved datasets a string ``reference`` names (``store.datasets``).

    Returns:
        The :class:`~skewless.monitoring.DriftReport`; its ``reference_name`` is the path or
        the dataset's name.

    Raises:
        DriftInputError: no common columns, a column numeric on one side and text on the
            other, an empty side, an all-null column, an unknown column or test name, a
            string that is neither a Parquet path nor (with ``datasets``) a saved dataset.
        ProfileError: a numerical column whose stored profile has no quantile sketch (a
            dataset saved before profiles had them: ``skewless datasets profile NAME``), or a
            dataset's profile file that cannot be read.

    Example:
        >>> import pandas as pd
        >>> ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] * 200})
        >>> report = drift_report(ref, ref.assign(x=ref.x + 3))
        >>> report.columns["x"].test, report.drifted_columns
        ('wasserstein', ['x'])
        >>> from skewless.monitoring import build_profile
        >>> drift_report(build_profile(ref), ref.assign(x=ref.x + 3)).drifted_columns
        ['x']
    """
    if not 0.0 < drift_share <= 1.0:
        raise DriftInputError(f"drift_share={drift_share!r} is not in (0, 1]: pass a share")
    ref = _resolve_reference(reference, datasets)
    cur_table = _resolve_side(current, "current")
    ref_columns = _Columns.of_profile(ref) if isinstance(ref, Profile) else _Columns.of(ref)
    plans = _plans(ref_columns, _Columns.of(cur_table), numerical, categorical, tests, threshold)
    if isinstance(ref, Profile):
        _require_sketches(ref, plans, reference)
    columns = _compare_all(plans, ref, cur_table)
    return DriftReport(
        columns=columns,
        drift_share=drift_share,
        reference_name=_name_of(reference),
        current_name=_name_of(current),
        reference_rows=ref.rows if isinstance(ref, Profile) else ref.num_rows,
        current_rows=cur_table.num_rows,
    )


# -- the two sides -----------------------------------------------------------------------------
def _resolve_reference(value: Reference, datasets: DatasetCatalog | None) -> pa.Table | Profile:
    """The reference as rows, or as a profile (a :class:`Profile`, or a saved dataset's)."""
    if isinstance(value, Profile):
        if not value.columns or value.rows == 0:
            raise DriftInputError(
                f"the reference profile is empty ({value.rows} rows, {len(value.columns)} "
                "columns): pass the profile of the reference rows"
            )
        return value
    if isinstance(value, str) and not Path(value).exists():
        if datasets is None:
            raise DriftInputError(
                f"the reference data {value!r} is not a Parquet file or directory: pass a "
                "frame, a pyarrow Table or a Parquet path, or pass datasets=store.datasets to "
                f"compare with the saved dataset {value!r}"
            )
        return _saved_profile(datasets, value)
    return _resolve_side(value, "reference")


def _saved_profile(datasets: DatasetCatalog, name: str) -> Profile:
    try:
        return dataset_profile(datasets, name)
    except UnknownObjectError:
        known = ", ".join(d.name for d in datasets.all()) or "none"
        raise DriftInputError(
            f"the reference {name!r} is neither a Parquet file or directory nor a saved "
            f"dataset (saved: {known}): pass the path of Parquet data or a saved dataset's name"
        ) from None


def _require_sketches(profile: Profile, plans: list[ColumnPlan], reference: Reference) -> None:
    """Every numerical column of a stored profile needs its quantile sketch (format 2)."""
    for plan in plans:
        column = profile[plan.name]
        if column.kind == "numeric" and column.sketch is None:
            name = reference if isinstance(reference, str) else "NAME"
            raise ProfileError(
                f"the reference profile has no quantile sketch for column {plan.name!r} "
                f"(format {column.format_version}, saved before profiles kept sketches): "
                f"re-profile the dataset with `skewless datasets profile {name}`"
            )


def _resolve_side(value: Side, side: str = "reference") -> pa.Table:
    """The data of one side as an Arrow table (frames are converted, paths read)."""
    if isinstance(value, Profile):
        raise DriftInputError(
            f"the {side} data is a Profile, and drift_report compares rows with a reference "
            "profile, not two profiles: pass the current rows as a frame, pyarrow Table or "
            "Parquet path"
        )
    table = _as_table(value, side)
    if table.num_columns == 0 or table.num_rows == 0:
        raise DriftInputError(
            f"the {side} data is empty ({table.num_rows} rows, {table.num_columns} columns): "
            "pass a frame or Parquet path with rows to compare"
        )
    return table


def _as_table(value: Side, side: str) -> pa.Table:
    if isinstance(value, LogWindow):
        return value.as_side()
    return read_table(value, f"{side} data", DriftInputError)


def _name_of(value: Side) -> str | None:
    if isinstance(value, LogWindow):
        return value.name
    return str(value) if isinstance(value, str | Path) else None


# -- what to compare, and how ------------------------------------------------------------------
@dataclass(frozen=True)
class _Columns:
    """What the plan reads of one side: its column names, each one's kind (see
    :func:`_kind_of`) and its type as messages show it."""

    names: list[str]
    kinds: dict[str, str | None]
    types: dict[str, str]

    @classmethod
    def of(cls, table: pa.Table) -> _Columns:
        schema = table.schema
        return cls(
            list(schema.names),
            {f.name: _kind_of(f.type) for f in schema},
            {f.name: str(f.type) for f in schema},
        )

    @classmethod
    def of_profile(cls, profile: Profile) -> _Columns:
        columns = profile.columns
        return cls(
            list(columns),
            {name: _profile_kind(c) for name, c in columns.items()},
            {name: c.type for name, c in columns.items()},
        )


def _profile_kind(column: ColumnProfile) -> str | None:
    """:func:`_kind_of` of a profiled column, from its kind and type name."""
    if column.kind == "numeric":
        return "integer" if _INTEGER_TYPE.fullmatch(column.type) else "number"
    if column.kind in ("categorical", "bool"):
        return "text"
    return "null" if column.type == "null" else None


def _kind_of(t: pa.DataType) -> str | None:
    """``number``, ``integer``, ``text`` (categories) or None (not compared by default)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_boolean(t)
    ):
        return "text"
    if pa.types.is_null(t):
        return "null"
    return None


def _plans(
    ref: _Columns,
    cur: _Columns,
    numerical: Sequence[str] | None,
    categorical: Sequence[str] | None,
    tests: str | Mapping[str, str] | None,
    threshold: float | Mapping[str, float] | None,
) -> list[ColumnPlan]:
    common = [name for name in ref.names if name in set(cur.names)]
    if not common:
        raise DriftInputError(
            "the reference and current data have no column in common (reference: "
            f"{_show(ref.names)}; current: {_show(cur.names)}): compare data of the same schema"
        )
    named: dict[str, Kind]
    if numerical is None and categorical is None:
        named = _default_kinds(ref, cur, common)
    else:
        named = _named_kinds(ref, cur, list(numerical or []), list(categorical or []))
    if not named:
        raise DriftInputError(
            f"none of the common columns ({_show(common)}) is numerical, text or boolean: "
            "name the columns to compare with numerical= or categorical="
        )
    test_of = _per_column("tests", tests, named)
    threshold_of = _per_column("threshold", threshold, named)
    for name, test in test_of.items():
        if test not in TEST_NAMES:
            raise DriftInputError(
                f"unknown drift test {test!r} for column {name!r}: choose one of "
                f"{', '.join(TEST_NAMES)}"
            )
    for name, value in threshold_of.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise DriftInputError(
                f"threshold {value!r} for column {name!r} is not a number: pass a float"
            )
    return [
        ColumnPlan(
            name,
            kind,
            test_of.get(name),
            None if name not in threshold_of else float(threshold_of[name]),
        )
        for name, kind in named.items()
    ]


def _types(ref: _Columns, cur: _Columns, name: str) -> tuple[str | None, str | None]:
    ref_kind, cur_kind = ref.kinds[name], cur.kinds[name]
    if "null" in (ref_kind, cur_kind):
        side = "reference" if ref_kind == "null" else "current"
        raise DriftInputError(
            f"column {name!r} is all null in the {side} data: leave it out with "
            "numerical=/categorical=, or fill it"
        )
    numeric = {"integer", "number"}
    if (ref_kind in numeric and cur_kind == "text") or (ref_kind == "text" and cur_kind in numeric):
        raise DriftInputError(
            f"column {name!r} is {ref.types[name]} in the reference data and "
            f"{cur.types[name]} in the current data: cast one side to the other's "
            "type, or leave the column out with numerical=/categorical="
        )
    return ref_kind, cur_kind


def _default_kinds(ref: _Columns, cur: _Columns, common: list[str]) -> dict[str, Kind]:
    kinds: dict[str, Kind] = {}
    for name in common:
        ref_kind, cur_kind = _types(ref, cur, name)
        if ref_kind is None or cur_kind is None:
            continue  # timestamps, lists, binary: not compared unless named
        if ref_kind == "text":
            kinds[name] = "categorical"
        elif ref_kind == cur_kind == "integer":
            kinds[name] = "integer"
        else:
            kinds[name] = "numerical"
    return kinds


def _named_kinds(
    ref: _Columns, cur: _Columns, numerical: list[str], categorical: list[str]
) -> dict[str, Kind]:
    both = sorted(set(numerical) & set(categorical))
    if both:
        raise DriftInputError(
            f"column(s) {_show(both)} are named both numerical and categorical: name each once"
        )
    kinds: dict[str, Kind] = {}
    for names, kind in ((numerical, "numerical"), (categorical, "categorical")):
        for name in names:
            missing = [s for s, t in (("reference", ref), ("current", cur)) if name not in t.names]
            if missing:
                raise DriftInputError(
                    f"column {name!r} is not in the {' and '.join(missing)} data: name columns "
                    "both sides have"
                )
            ref_kind, cur_kind = _types(ref, cur, name)
            if kind == "numerical" and "text" in (ref_kind, cur_kind):
                raise DriftInputError(
                    f"column {name!r} is named numerical but holds "
                    f"{ref.types[name]}: name it in categorical= instead"
                )
            if ref_kind is None or cur_kind is None:
                raise DriftInputError(
                    f"column {name!r} is {ref.types[name]}, which has no drift "
                    "test: leave it out, or cast it to numbers or text"
                )
            kinds[name] = "numerical" if kind == "numerical" else "categorical"
    return kinds


def _per_column(what: str, value: Any, named: Mapping[str, Kind]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        unknown = [name for name in value if name not in named]
        if unknown:
            raise DriftInputError(
                f"{what}= names column(s) {_show(unknown)} that are not compared (compared: "
                f"{_show(list(named))}): name compared columns only"
            )
        return dict(value)
    return dict.fromkeys(named, value)


def _show(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_SHOWN_COLUMNS])
    more = len(names) - _SHOWN_COLUMNS
    return shown + (f" and {more} more" if more > 0 else "") if names else "none"


# -- the work ----------------------------------------------------------------------------------
def _compare_all(
    plans: list[ColumnPlan], ref: pa.Table | Profile, cur: pa.Table
) -> dict[str, ColumnDrift]:
    """Every column's drift, columns in parallel: the sorting, counting and arithmetic run in
    numpy and Arrow, which release the GIL."""
    workers = max(1, min(os.cpu_count() or 1, len(plans)))

    def one(plan: ColumnPlan) -> ColumnDrift:
        if isinstance(ref, Profile):
            return compare_to_profile(plan, ref[plan.name], cur.column(plan.name))
        return compare_column(plan, ref.column(plan.name), cur.column(plan.name))

    if workers == 1:
        return {plan.name: one(plan) for plan in plans}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skewless-drift") as pool:
        results = list(pool.map(one, plans))
    return {r.column: r for r in results}
