"""The python-mode online path converts outputs exactly as the Arrow path does."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless._types import DType
from skewless.on_demand import _native
from skewless.types import Bool, Float64, Int32, Int64, String

DTYPES = [Float64, Int64, Int32, String, Bool]

values = st.lists(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**64), 2**64),
        st.integers(-(2**54), 2**54),
        st.floats(allow_nan=False),
        st.text(max_size=3),
    ),
    max_size=6,
)


def arrow_way(values: list[Any], dtype: DType) -> Any:
    """What Arrow makes of the values for ``dtype`` (the offline rule), or "error"."""
    target = dtype.to_arrow()
    try:
        array = pa.array(values)
        if pa.types.is_integer(target) and pa.types.is_floating(array.type):
            return array.cast(target, safe=True).to_pylist()
        if not (pa.types.is_null(array.type) or dtype.accepts(array.type)):
            return "error"
        return array.cast(target).to_pylist()
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return "error"


@settings(max_examples=300)
@given(values=values, dtype=st.sampled_from(DTYPES))
def test_native_conversion_matches_arrow(values: list[Any], dtype: DType) -> None:
    native = _native(values, dtype)
    if native is not None:
        expected = arrow_way(values, dtype)
        assert native == expected
        assert [type(v) for v in native] == [type(v) for v in expected]


def test_plain_values_take_the_native_path() -> None:
    assert _native([1, None, 2.5], Float64) == [1.0, None, 2.5]
    assert _native([1, None], Int64) == [1, None]
    assert _native(["a", None], String) == ["a", None]
    assert _native([True, None], Bool) == [True, None]
    assert _native([1.0], Int64) is None  # whole floats: Arrow decides
    assert _native([2**63], Int64) is None
    assert _native([2**31], Int32) is None
    assert _native([True], Float64) is None
