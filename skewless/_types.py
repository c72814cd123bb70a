"""Value types of feature columns and their Arrow equivalents.

>>> from skewless.types import Array, Float32, Int64
>>> Int64.to_arrow()
DataType(int64)
>>> str(Array(Float32))
'Array(Float32)'
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "Array",
    "Bool",
    "Bytes",
    "DType",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "PrimitiveType",
    "String",
    "UnixTimestamp",
    "dtype_from_arrow",
    "dtype_from_name",
]


class DType:
    """A feature value type. Instances are immutable and compare by name."""

    name: str

    def to_arrow(self) -> pa.DataType:
        raise NotImplementedError

    def accepts(self, arrow_type: pa.DataType) -> bool:
        """Whether a source column of ``arrow_type`` can be read as this type without loss."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True, eq=False, repr=False)
class PrimitiveType(DType):
    name: str
    arrow: pa.DataType

    def to_arrow(self) -> pa.DataType:
        return self.arrow

    def accepts(self, arrow_type: pa.DataType) -> bool:
        source, target = _family(arrow_type), _family(self.arrow)
        if source == target == "int" and _unsigned_overflows(arrow_type, self.arrow):
            return False
        # An integer column read as a float feature keeps its meaning; nothing else converts.
        return source == target or (source, target) == ("int", "float")


class Array(DType):
    """A list of values of one primitive type, e.g. ``Array(Float32)`` for an embedding."""

    def __init__(self, base_type: DType) -> None:
        if isinstance(base_type, Array):
            raise TypeError("Array(Array(...)) is not supported: nest one level only")
        if not isinstance(base_type, DType):
            raise TypeError(f"Array() takes a skewless type such as Float32, got {base_type!r}")
        self.base_type = base_type
        self.name = f"Array({base_type.name})"

    def to_arrow(self) -> pa.DataType:
        return pa.list_(self.base_type.to_arrow())

    def accepts(self, arrow_type: pa.DataType) -> bool:
        if not (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)):
            return False
        return self.base_type.accepts(arrow_type.value_type)


Int32 = PrimitiveType("Int32", pa.int32())
Int64 = PrimitiveType("Int64", pa.int64())
Float32 = PrimitiveType("Float32", pa.float32())
Float64 = PrimitiveType("Float64", pa.float64())
String = PrimitiveType("String", pa.string())
Bool = PrimitiveType("Bool", pa.bool_())
Bytes = PrimitiveType("Bytes", pa.binary())
UnixTimestamp = PrimitiveType("UnixTimestamp", pa.timestamp("us", tz="UTC"))

_PRIMITIVES: dict[str, PrimitiveType] = {
    t.name: t for t in (Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp)
}


def _family(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "bytes"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    return str(t)


def _unsigned_overflows(source: pa.DataType, target: pa.DataType) -> bool:
    """An unsigned column whose values can exceed the signed target (uint64 as Int64).

    Signed columns of a wider type stay readable: a CSV's integers are read as int64 whatever
    the declared width.
    """
    return pa.types.is_unsigned_integer(source) and source.bit_width >= target.bit_width


def dtype_from_name(name: str) -> DType:
    """Parse a type name as written by ``str(dtype)`` (``Int64``, ``Array(Float32)``)."""
    if name.startswith("Array(") and name.endswith(")"):
        return Array(dtype_from_name(name[6:-1]))
    try:
        return _PRIMITIVES[name]
    except KeyError:
        known = ", ".join(sorted(_PRIMITIVES))
        raise ValueError(f"unknown type {name!r}: use one of {known} or Array(T)") from None


def dtype_from_arrow(t: pa.DataType) -> DType:
    """The skewless type closest to an Arrow type (used to infer join-key types)."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return Array(dtype_from_arrow(t.value_type))
    family = _family(t)
    if family == "int":
        return Int32 if pa.types.is_int32(t) or t.bit_width < 32 else Int64
    if family == "float":
        return Float32 if pa.types.is_float32(t) or pa.types.is_float16(t) else Float64
    by_family = {"string": String, "bytes": Bytes, "bool": Bool, "timestamp": UnixTimestamp}
    if family in by_family:
        return by_family[family]
    raise ValueError(f"Arrow type {t} has no skewless equivalent")
