"""Spark SQL: the same query descriptions as every engine, in Spark's syntax.

A source is scanned through a temporary view (:mod:`.sources` registers it) that carries the
raw columns plus three columns taken from Spark's hidden ``_metadata``: the file's path
(URL-decoded, so that paths compare in the lexicographic order of docs/semantics.md), the start of
the file block being read and the row's index in its Parquet file. Timestamps are Spark
``TIMESTAMP`` values (instants, shown in the session time zone, which is UTC).

Example:
    >>> SparkDialect().ident("user`id")
    '`user``id`'
    >>> SparkDialect().string("it's")
    "'it\\\\'s'"
    >>> SparkDialect().timestamp(5)
    'timestamp_micros(5)'
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import pyarrow as pa

from skewless.offline.query import SourceColumn, SourceRead
from skewless.offline.sql import SqlDialect

__all__ = ["BLOCK_COLUMN", "FILE_COLUMN", "ROW_COLUMN", "SparkDialect"]

# Columns the scan view adds to the raw columns (taken from ``_metadata``).
FILE_COLUMN = "__skewless_file"
BLOCK_COLUMN = "__skewless_block"
ROW_COLUMN = "__skewless_row"


class SparkDialect(SqlDialect):
    """Spark SQL for the offline queries of :mod:`skewless.offline.query`.

    Point-in-time joins use the portable range join of :class:`SqlDialect` (Spark has no
    ``ASOF`` join); ``last`` is ``max_by`` over a ``named_struct`` ordering rows as "Which
    row wins" does.
    """

    QUOTE: ClassVar[str] = "`"
    TYPE_NAMES: ClassVar[dict[str, str]] = {
        "Int32": "INT",
        "Int64": "BIGINT",
        "Float32": "FLOAT",
        "Float64": "DOUBLE",
        "String": "STRING",
        "Bool": "BOOLEAN",
        "Bytes": "BINARY",
        "UnixTimestamp": "TIMESTAMP",
    }
    ARRAY_TYPE: ClassVar[str] = "ARRAY<{}>"
    JSON_TEXT: ClassVar[str] = "to_json({})"
    STRUCT_TYPE: ClassVar[str] = "STRUCT<{}>"
    STRUCT_ITEM: ClassVar[str] = "{name}: {type}"
    TIMESTAMP_FROM_MICROS: ClassVar[str] = "timestamp_micros({})"
    MICROS_OF_TIMESTAMP: ClassVar[str] = "unix_micros({})"
    TEXT_TIMESTAMP: ClassVar[str] = "TIMESTAMP"
    SUBTRACT_MICROS: ClassVar[str] = "timestamp_micros(unix_micros({}) - {})"
    AGGREGATES: ClassVar[dict[str, str]] = {
        **SqlDialect.AGGREGATES,
        "last": "max_by({x}, {order})",
    }
    ORDER_TUPLE: ClassVar[str] = "named_struct({items})"
    ORDER_ITEM: ClassVar[str] = "'{name}', {expr}"

    def __init__(self, prefix: str = "__skewless_src_") -> None:
        self.prefix = prefix

    def string(self, text: str) -> str:
        # Spark reads backslash escapes inside string literals.
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def scan_name(self, read: SourceRead) -> str:
        """The temporary view holding ``read``'s files: named after the files, the format and
        the column types read, so that queries over the same source share it."""
        columns = (read.timestamp, read.created, read.event_id, *read.keys, *read.features)
        parts = [read.file_format, *read.files]
        parts += [f"{c.source}:{c.source_type}" for c in columns if c is not None]
        digest = hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False)
        return f"{self.prefix}{digest.hexdigest()[:20]}"

    def scan(self, read: SourceRead) -> str:
        return self.ident(self.scan_name(read))

    def positions(self, read: SourceRead) -> tuple[str, str]:
        """The file's path (files compare in path order) and the row's place in the file.

        Parquet has a row index. A CSV file is read block by block, each block from its
        start, so ``(block start, id increasing in read order)`` follows the file's order.
        """
        file_pos = self.ident(FILE_COLUMN)
        if read.file_format == "csv":
            row = self.ORDER_TUPLE.format(
                items=", ".join(
                    [
                        self.ORDER_ITEM.format(name="b", expr=self.ident(BLOCK_COLUMN)),
                        self.ORDER_ITEM.format(name="r", expr=self.ident(ROW_COLUMN)),
                    ]
                )
            )
            return file_pos, row
        return file_pos, self.ident(ROW_COLUMN)

    def normalized_time(self, column: SourceColumn) -> str:
        """The column as a Spark ``TIMESTAMP`` truncated to microseconds.

        Parquet nanosecond timestamps arrive as BIGINT nanoseconds (Spark cannot read them as
        timestamps) and are floored to microseconds; a zone-less timestamp means UTC.
        """
        src, kind = self.ident(column.source), column.source_type
        if pa.types.is_timestamp(kind):
            if kind.unit == "ns":
                return self.TIMESTAMP_FROM_MICROS.format(f"(({src} - pmod({src}, 1000)) div 1000)")
            if kind.tz is not None:
                return src
        return f"CAST({src} AS TIMESTAMP)"
