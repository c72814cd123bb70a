"""Feature value types, importable as ``from skewless.types import Int64, Float32, ...``."""

from skewless._types import (
    Array,
    Bool,
    Bytes,
    DType,
    Float32,
    Float64,
    Int32,
    Int64,
    Json,
    Map,
    String,
    Struct,
    UnixTimestamp,
)

__all__ = [
    "Array",
    "Bool",
    "Bytes",
    "DType",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "Json",
    "Map",
    "String",
    "Struct",
    "UnixTimestamp",
]
