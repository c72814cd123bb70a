"""Value types of feature columns and their Arrow equivalents.

>>> from skewless.types import Array, Float32, Int64
>>> Int64.to_arrow()
DataType(int64)
>>> str(Array(Float32))
'Array(Float32)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DOCUMENT_FIELD",
    "Array",
    "Bool",
    "Bytes",
    "DType",
    "DocumentType",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "Json",
    "Map",
    "PrimitiveType",
    "String",
    "Struct",
    "UnixTimestamp",
    "arrow_field",
    "document_texts",
    "dtype_from_arrow",
    "dtype_from_name",
    "is_document",
    "parse_document_columns",
    "parse_documents",
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


class DocumentType(DType):
    """A value held as its JSON text: ``Map`` (string keys to values) or ``Json`` (any JSON).

    Offline and in Arrow tables the value is its JSON text (``to_arrow()`` is a string); the
    user-facing results (``to_dict()``, ``to_df()``) give the parsed Python object, a dict
    for a ``Map``. A source column may hold the JSON text, a struct or a map (written as
    JSON when read).
    """

    def __init__(self, name: str, accepted: tuple[str, ...]) -> None:
        self.name = name
        self._accepted = accepted

    def to_arrow(self) -> pa.DataType:
        return pa.string()

    def accepts(self, arrow_type: pa.DataType) -> bool:
        if _family(arrow_type) == "string":
            return True
        if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
            return True
        return "list" in self._accepted and (
            pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
        )


class Struct(DType):
    """A record of named, typed fields, e.g. ``Struct({"name": String, "age": Int64})``.

    Its Arrow form is a struct; results give each value as a dict in field order.

    >>> str(Struct({"name": String, "age": Int64}))
    'Struct(name: String, age: Int64)'
    """

    def __init__(self, fields: dict[str, DType]) -> None:
        if not isinstance(fields, dict) or not fields:
            raise TypeError('Struct() takes a dict of field names to types: Struct({"a": Int64})')
        for key, dtype in fields.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"Struct field names must be non-empty strings, got {key!r}")
            if not isinstance(dtype, PrimitiveType | Array):
                raise TypeError(
                    f"Struct field {key!r} has type {dtype!r}: use a primitive type or Array(T)"
                )
        self.fields = dict(fields)
        inner = ", ".join(f"{k}: {v.name}" for k, v in self.fields.items())
        self.name = f"Struct({inner})"

    def to_arrow(self) -> pa.DataType:
        return pa.struct([pa.field(k, v.to_arrow()) for k, v in self.fields.items()])

    def accepts(self, arrow_type: pa.DataType) -> bool:
        if not pa.types.is_struct(arrow_type):
            return False
        given = {
            arrow_type.field(i).name: arrow_type.field(i).type for i in range(arrow_type.num_fields)
        }
        return list(given) == list(self.fields) and all(
            self.fields[k].accepts(t) for k, t in given.items()
        )


Map = DocumentType("Map", ())
"""String keys to values (Feast's ``Map``); results give a dict."""
Json = DocumentType("Json", ("list",))
"""Any JSON value (Feast's ``Json``); results give the parsed object."""


def is_document(dtype: DType) -> bool:
    """Whether results give this type's values as parsed JSON (``Map``, ``Json``)."""
    return isinstance(dtype, DocumentType)


DOCUMENT_FIELD = {b"skewless.dtype": b"document"}
"""Arrow field metadata marking a column of JSON text that results give parsed."""


def arrow_field(name: str, dtype: DType) -> pa.Field:
    """The Arrow field of a feature column; ``Map``/``Json`` columns carry DOCUMENT_FIELD."""
    return pa.field(name, dtype.to_arrow(), metadata=DOCUMENT_FIELD if is_document(dtype) else None)


def parse_documents(values: list[Any]) -> list[Any]:
    """JSON texts (or None) as Python objects: what results give for ``Map``/``Json``."""
    return [v if v is None or not isinstance(v, str | bytes) else orjson.loads(v) for v in values]


def document_texts(values: list[Any], dtype: DType) -> list[str | None]:
    """Given values of a ``Map``/``Json`` column (objects or JSON text) as JSON text.

    Raises:
        ValueError: a text is not JSON, or a ``Map`` value is not an object.
    """
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        if isinstance(value, str | bytes):
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{value!r} is not JSON text ({exc})") from None
        else:
            parsed = dict(value) if isinstance(value, list) and dtype == Map else value
        if dtype == Map and not isinstance(parsed, dict):
            raise ValueError(f"{value!r} is not a mapping of keys to values")
        try:
            out.append(value if isinstance(value, str) else orjson.dumps(parsed).decode())
        except TypeError as exc:
            raise ValueError(f"{value!r} cannot be written as JSON ({exc})") from None
    return out


def parse_document_columns(frame: pd.DataFrame, table: pa.Table) -> pd.DataFrame:
    """``frame`` (made from ``table``) with the columns ``table`` marks as documents parsed
    into Python objects (None where null)."""
    import pandas as pd

    for f in table.schema:
        if f.metadata and f.metadata.get(b"skewless.dtype") == b"document" and f.name in frame:
            values = parse_documents(table.column(f.name).to_pylist())
            frame[f.name] = pd.Series(values, index=frame.index, dtype=object)
    return frame


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
    if name in ("Map", "Json"):
        return Map if name == "Map" else Json
    if name.startswith("Struct(") and name.endswith(")"):
        return Struct(_struct_fields(name[7:-1]))
    try:
        return _PRIMITIVES[name]
    except KeyError:
        known = ", ".join(sorted(_PRIMITIVES))
        raise ValueError(f"unknown type {name!r}: use one of {known} or Array(T)") from None


def _struct_fields(text: str) -> dict[str, DType]:
    fields: dict[str, DType] = {}
    depth, start = 0, 0
    parts = []
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        key, _, type_name = part.partition(":")
        fields[key.strip()] = dtype_from_name(type_name.strip())
    return fields


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
