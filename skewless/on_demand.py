"""Running on-demand feature views: resolving their refs and applying their functions.

A request naming ``odfv:feature`` also fetches the features the on-demand view reads from its
source views (as hidden columns when the request does not name them itself) and needs the
request data columns in the entity frame (offline) or the entity rows (online). The function
runs once per retrieval on the whole joined result, and once per online read on its rows.

Both paths hand the function the same values: inputs are typed by their declared types
through Arrow (``to_pandas()`` for pandas mode, ``to_pylist()`` for python mode) and outputs
are checked against the schema and cast to the declared types the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from skewless._contracts import OfflineResult, ViewRequest
from skewless._types import Array, DType, Struct, is_document
from skewless.definitions import FeatureView, Field, OnDemandFeatureView
from skewless.definitions.feature_view import resolve_projection
from skewless.errors import (
    DefinitionError,
    EntityFrameError,
    FeatureNotFoundError,
    OnDemandFeatureError,
)
from skewless.feature_refs import FeatureRequest, parse_refs, resolve_requests
from skewless.registry.snapshot import RegistrySnapshot

__all__ = [
    "OnDemandRequest",
    "ResolvedRequest",
    "check_on_demand",
    "check_on_demand_views",
    "resolve",
    "transform",
    "transform_rows",
]

_HIDDEN = "__skewless_input__"


@dataclass(frozen=True)
class OnDemandRequest:
    """The features wanted from one on-demand view, their output names and inputs.

    ``inputs`` maps each name the function receives to the column holding it (a feature's
    output column, a hidden column, or a request data column).
    """

    odfv: OnDemandFeatureView
    features: tuple[str, ...]
    output_names: tuple[str, ...]
    inputs: tuple[tuple[str, str, Field], ...]

    @property
    def request_names(self) -> frozenset[str]:
        """The request data columns among the inputs."""
        return frozenset(f.name for f in self.odfv.request_columns)

    @property
    def arrow_types(self) -> tuple[pa.DataType, ...]:
        return tuple(self.odfv.dtype_of(f).to_arrow() for f in self.features)


@dataclass(frozen=True)
class ResolvedRequest:
    """A request split into view lookups and on-demand computations.

    Attributes:
        views: what to fetch from feature views (hidden inputs included).
        on_demand: the on-demand views to run, in order of first appearance.
        columns: the visible output columns, in order.
        hidden: the fetched columns that are only inputs and are dropped from the output.
        refs: ``name:feature`` of every visible column, in order.
        request_columns: request data columns needed, with their declared fields.
    """

    views: list[ViewRequest]
    on_demand: list[OnDemandRequest]
    columns: tuple[str, ...]
    hidden: frozenset[str]
    refs: tuple[str, ...]
    request_columns: dict[str, Field]


def resolve(
    features: FeatureRequest, snapshot: RegistrySnapshot, full_feature_names: bool
) -> ResolvedRequest:
    """Resolve refs that may name on-demand views; plain requests resolve as before.

    Raises:
        FeatureNotFoundError: unknown views or features, or an output name clash.
    """
    odfvs = snapshot.on_demand_feature_views
    pairs = [p for p in parse_refs(features, snapshot) if p[0] in odfvs]
    if not pairs:
        views = resolve_requests(features, snapshot, full_feature_names)
        refs = tuple(f"{r.view.name}:{f}" for r in views for f in r.features)
        cols = tuple(n for r in views for n in r.output_names)
        return ResolvedRequest(views, [], cols, frozenset(), refs, {})

    order: list[str] = []
    plain: list[str] = []
    wanted: dict[str, list[str]] = {}
    for name, feature in parse_refs(features, snapshot):
        if name not in order:
            order.append(name)
        if name in odfvs:
            odfv = odfvs[name]
            if feature not in odfv.feature_names:
                raise FeatureNotFoundError(
                    f"on-demand feature view {name!r} has no feature {feature!r} "
                    f"(features: {', '.join(odfv.feature_names)})"
                )
            chosen = wanted.setdefault(name, [])
            if feature not in chosen:
                chosen.append(feature)
        else:
            plain.append(f"{name}:{feature}")
    views = resolve_requests(plain, snapshot, full_feature_names) if plain else []
    pairs_out = [
        (r.view.name, f, n) for r in views for f, n in zip(r.features, r.output_names, strict=True)
    ]
    taken = {n: f"{v}:{f}" for v, f, n in pairs_out}
    column_of = {(v, f): n for v, f, n in pairs_out}
    extra: dict[str, list[str]] = {}
    hidden: set[str] = set()
    requests: list[OnDemandRequest] = []
    request_columns: dict[str, Field] = {}
    for name, feats in wanted.items():
        odfv = odfvs[name]
        names = tuple(f"{name}__{f}" if full_feature_names else f for f in feats)
        for out, feat in zip(names, feats, strict=True):
            if out in taken:
                raise FeatureNotFoundError(
                    f"feature name {out!r} comes from both {taken[out]!r} and '{name}:{feat}': "
                    "pass full_feature_names=True to name columns view__feature"
                )
            taken[out] = f"{name}:{feat}"
        inputs: list[tuple[str, str, Field]] = []
        for projection in odfv.sources:
            view = snapshot.feature_views.get(projection.view_name)
            if view is None:
                raise FeatureNotFoundError(
                    f"on-demand feature view {name!r} reads feature view "
                    f"{projection.view_name!r}, which is not in the registry: apply it"
                )
            for feat in projection.features:
                key = (view.name, feat)
                if key not in column_of:
                    column_of[key] = f"{_HIDDEN}{view.name}__{feat}"
                    hidden.add(column_of[key])
                    extra.setdefault(view.name, []).append(feat)
                field = Field(name=feat, dtype=view.dtype_of(feat))
                inputs.append((feat, column_of[key], field))
        for field in odfv.request_columns:
            inputs.append((field.name, field.name, field))
            request_columns[field.name] = field
        requests.append(OnDemandRequest(odfv, tuple(feats), names, tuple(inputs)))
    views = _with_hidden(views, extra, snapshot)
    groups: dict[str, tuple[str, ...]] = {r.view.name: r.output_names for r in views}
    groups.update({r.odfv.name: r.output_names for r in requests})
    columns = tuple(c for g in order for c in groups[g] if c not in hidden)
    refs = tuple(taken[c] for c in columns)
    return ResolvedRequest(views, requests, columns, frozenset(hidden), refs, request_columns)


def _with_hidden(
    views: list[ViewRequest], extra: Mapping[str, list[str]], snapshot: RegistrySnapshot
) -> list[ViewRequest]:
    out = []
    for request in views:
        more = extra.get(request.view.name, [])
        names = tuple(f"{_HIDDEN}{request.view.name}__{f}" for f in more)
        out.append(
            replace(
                request,
                features=request.features + tuple(more),
                output_names=request.output_names + names,
            )
        )
    known = {r.view.name for r in views}
    for view_name, more in extra.items():
        if view_name not in known:
            names = tuple(f"{_HIDDEN}{view_name}__{f}" for f in more)
            out.append(ViewRequest(snapshot.feature_views[view_name], tuple(more), names))
    return out


# -- running the functions --------------------------------------------------------------------
def transform(request: OnDemandRequest, inputs: pa.Table) -> list[pa.Array]:
    """Run one on-demand view on ``inputs`` (columns named as the function receives them).

    Returns one array per requested feature, of its declared type.

    Raises:
        OnDemandFeatureError: the function raised, or returned missing columns, a wrong number of
            rows or values of the wrong type; the message names the view and the feature.
    """
    odfv = request.odfv
    data: Any = inputs.to_pandas() if odfv.mode == "pandas" else inputs.to_pydict()
    outputs = _call(odfv, data)
    return [
        _typed(odfv, f, outputs, inputs.num_rows, OnDemandFeatureError) for f in request.features
    ]


def transform_rows(
    request: OnDemandRequest, columns: Mapping[str, Sequence[Any]], n: int
) -> list[list[Any]]:
    """Run one on-demand view on the ``n`` rows of an online read; one list per feature.

    In python mode no Arrow or pandas object is built when the inputs and outputs are plain
    values of plain types (ints, floats, strings, booleans); the values are the ones
    :func:`transform` gives, because both check outputs with the same rules.
    """
    odfv = request.odfv
    if odfv.mode == "pandas":
        arrays = transform(request, input_table(request, columns))
        return [a.to_pylist() for a in arrays]
    data: dict[str, list[Any]] = {}
    requested = request.request_names
    for name, column, field in request.inputs:
        values = columns[column]
        if column in requested or field.dtype.name not in _PLAIN_INPUTS:
            data[name] = input_table(request, {column: values}, only=name).column(0).to_pylist()
        else:
            data[name] = list(values)
    outputs = _call(odfv, data)
    out = []
    for feature in request.features:
        values = outputs[feature]
        native = _native(values, odfv.dtype_of(feature)) if isinstance(values, list) else None
        if native is None or len(native) != n:
            native = _typed(odfv, feature, outputs, n, OnDemandFeatureError).to_pylist()
        out.append(native)
    return out


_PLAIN_INPUTS = frozenset({"Int64", "Int32", "Float64", "String", "Bool"})
_INT_BOUNDS = {"Int64": 2**63, "Int32": 2**31}


def _native(values: list[Any], dtype: DType) -> list[Any] | None:
    """``values`` converted as Arrow would to ``dtype`` (None: leave it to Arrow)."""
    name = dtype.name
    if name == "Float64":
        out: list[Any] = []
        for v in values:
            if v is None or v.__class__ is float:
                out.append(v)
            elif v.__class__ is int and -(2**53) <= v <= 2**53:
                out.append(float(v))
            else:
                return None
        return out
    bound = _INT_BOUNDS.get(name)
    if bound is not None:
        ok = all(v is None or (v.__class__ is int and -bound <= v < bound) for v in values)
        return list(values) if ok else None
    kind = {"String": str, "Bool": bool}.get(name)
    if kind is not None and all(v is None or v.__class__ is kind for v in values):
        return list(values)
    return None


def _call(
    odfv: OnDemandFeatureView, data: Any, error: type[Exception] = OnDemandFeatureError
) -> Any:
    what = f"on-demand feature view {odfv.name!r} (features {', '.join(odfv.feature_names)})"
    try:
        outputs = odfv.udf(data)
    except Exception as exc:
        raise error(
            f"{what} failed: {type(exc).__name__}: {exc}; fix the function (it must handle "
            "every input, nulls included) and apply it again"
        ) from exc
    kind = "DataFrame" if odfv.mode == "pandas" else "dict"
    ok = hasattr(outputs, "columns") if odfv.mode == "pandas" else isinstance(outputs, Mapping)
    if not ok:
        raise error(
            f"{what} returned a {type(outputs).__name__}; mode={odfv.mode!r} functions return "
            f"a {kind} with the columns {list(odfv.feature_names)}"
        )
    have = [str(c) for c in (outputs.columns if odfv.mode == "pandas" else outputs)]
    missing = [f for f in odfv.feature_names if f not in have]
    extra = [c for c in have if c not in odfv.feature_names]
    if missing or extra:
        raise error(
            f"{what} returned columns {have}: missing {missing}, not in its schema {extra}; "
            "return exactly the schema's columns"
        )
    return outputs


def _typed(
    odfv: OnDemandFeatureView, feature: str, outputs: Any, n: int, error: type[Exception]
) -> pa.Array:
    dtype: DType = odfv.dtype_of(feature)
    what = f"feature '{odfv.name}:{feature}'"
    values = outputs[feature]
    target = dtype.to_arrow()
    try:
        if odfv.mode == "pandas":
            array = pa.Array.from_pandas(values)
        else:
            values = list(values)
            native = _native(values, dtype)
            array = pa.array(values) if native is None else pa.array(native, type=target)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise error(f"{what}: the function returned values Arrow cannot read: {exc}") from exc
    if len(array) != n:
        raise error(f"{what}: the function returned {len(array)} values for {n} rows")
    if pa.types.is_integer(target) and pa.types.is_floating(array.type):
        # pandas holds an int column with nulls as float64: whole numbers convert back.
        try:
            return array.cast(target, safe=True)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise error(
                f"{what} is declared {dtype} but the function returned non-integral floats "
                f"({exc}); round them or declare Float64"
            ) from exc
    if not (pa.types.is_null(array.type) or dtype.accepts(array.type)):
        raise error(
            f"{what} is declared {dtype} but the function returned {array.type}; change the "
            "declared type or convert the values"
        )
    try:
        return array.cast(dtype.to_arrow())
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise error(f"{what}: cannot convert the returned {array.type} to {dtype}: {exc}") from exc


def input_table(
    request: OnDemandRequest,
    columns: Mapping[str, Sequence[Any] | pa.Array | pa.ChunkedArray],
    only: str | None = None,
) -> pa.Table:
    """The function's inputs from ``columns`` (by column name), typed by their declarations.

    Raises:
        EntityFrameError: a request data column cannot be read as its declared type.
    """
    arrays = {}
    for name, column, field in request.inputs:
        if only is not None and name != only:
            continue
        values = columns[column]
        kind = field.dtype.to_arrow()
        try:
            if isinstance(values, pa.Array | pa.ChunkedArray):
                arrays[name] = values if values.type == kind else values.cast(kind)
            else:
                arrays[name] = pa.array(values, type=kind)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise EntityFrameError(
                f"request data column {column!r} of on-demand feature view "
                f"{request.odfv.name!r} cannot be read as {field.dtype}: {exc}; send values "
                "of the declared type"
            ) from exc
    return pa.table(arrays)


def check_request_columns(names: Sequence[str], resolved: ResolvedRequest, where: str) -> None:
    """Every request data column the on-demand views need is among ``names``.

    Raises:
        EntityFrameError: naming the missing column and the on-demand view needing it.
    """
    for request in resolved.on_demand:
        clash = sorted(set(request.output_names) & set(names))
        if clash:
            raise EntityFrameError(
                f"{where} column(s) {clash} have the name of requested feature(s) of "
                f"{request.odfv.name!r}: rename the column(s) or pass full_feature_names=True"
            )
        for field in request.odfv.request_columns:
            if field.name not in names:
                raise EntityFrameError(
                    f"{where} has no column {field.name!r}, request data of on-demand feature "
                    f"view {request.odfv.name!r} (it has: {', '.join(names) or 'none'}); add "
                    f"it ({field.dtype})"
                )


class OnDemandResult:
    """An offline result with on-demand features computed on the joined table."""

    def __init__(self, inner: OfflineResult, resolved: ResolvedRequest, entity: Sequence[str]):
        self._inner = inner
        self._resolved = resolved
        self._entity = tuple(entity)

    def to_arrow(self) -> pa.Table:
        table = self._inner.to_arrow()
        columns = {name: table.column(name) for name in table.column_names}
        for request in self._resolved.on_demand:
            arrays = transform(request, input_table(request, columns))
            for name, array in zip(request.output_names, arrays, strict=True):
                columns[name] = pa.chunked_array([array], type=array.type)
        order = list(self._entity) + list(self._resolved.columns)
        return pa.table({name: columns[name] for name in order})

    def to_parquet(self, path: Any) -> None:
        import pyarrow.parquet as pq

        pq.write_table(self.to_arrow(), path)


# -- plan-time checks -------------------------------------------------------------------------
def check_on_demand_views(
    views: Mapping[str, FeatureView], odfvs: Mapping[str, OnDemandFeatureView]
) -> None:
    """Check each on-demand view's sources exist, then run it on a sample (``check_on_demand``).

    Raises:
        DefinitionError: naming the on-demand view and the problem.
    """
    for odfv in odfvs.values():
        what = f"on-demand feature view {odfv.name!r}"
        if odfv.name in views:
            raise DefinitionError(
                f"{what} has the name of a feature view: refs 'name:feature' must say which "
                "one they mean, so rename one of them"
            )
        fields: list[Field] = []
        for projection in odfv.sources:
            view = resolve_projection(projection, views, what, "reads")
            fields += [Field(name=f, dtype=view.dtype_of(f)) for f in projection.features]
        inputs = {f.name for f in fields} | {f.name for f in odfv.request_columns}
        clash = sorted(set(odfv.feature_names) & inputs)
        if clash:
            raise DefinitionError(
                f"{what}: output(s) {clash} have the name of one of its inputs; rename them"
            )
        check_on_demand(odfv, fields + list(odfv.request_columns))


def check_on_demand(odfv: OnDemandFeatureView, fields: Sequence[Field]) -> None:
    """Run the function on a small sample of its inputs and check what it returns.

    Args:
        odfv: the on-demand view.
        fields: its input fields (source view features and request data), as received.

    Raises:
        DefinitionError: naming the view and what went wrong (the function raised, returned
            missing or extra columns, the wrong number of rows or the wrong types).
    """
    sample = pa.table(
        {f.name: pa.array(_samples(f.dtype), type=f.dtype.to_arrow()) for f in fields}
    )
    data: Any = sample.to_pandas() if odfv.mode == "pandas" else sample.to_pydict()
    outputs = _call(odfv, data, DefinitionError)
    for feature in odfv.feature_names:
        _typed(odfv, feature, outputs, sample.num_rows, DefinitionError)


def _samples(dtype: DType) -> list[Any]:
    if isinstance(dtype, Array):
        return [[v] for v in _samples(dtype.base_type)]
    if isinstance(dtype, Struct):
        columns = {k: _samples(t) for k, t in dtype.fields.items()}
        return [{k: v[i] for k, v in columns.items()} for i in range(3)]
    if is_document(dtype):
        return ['{"a": 1}', '{"b": "2"}', "{}"]
    name = dtype.name
    if name.startswith("Int"):
        return [1, 2, 3]
    if name.startswith("Float"):
        return [1.0, 2.5, 4.0]
    if name == "String":
        return ["a", "b", "c"]
    if name == "Bool":
        return [True, False, True]
    if name == "Bytes":
        return [b"a", b"b", b"c"]
    return [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
