"""DuckDB's SQL: file scans, positions in the source, and the point-in-time ``ASOF`` join."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from skewless._types import UnixTimestamp
from skewless.offline.query import CREATED_TS, EVENT_TS, FILE_POS, ROW_POS, SourceRead, ViewJoin
from skewless.offline.sql import JoinedView, SqlDialect

__all__ = ["DuckDBDialect"]

_MIN_BIGINT = -(2**63)
_MAX_BIGINT = 2**63 - 1


class DuckDBDialect(SqlDialect):
    """DuckDB: ``read_parquet`` / ``read_csv`` scans and an ``ASOF LEFT JOIN`` per view.

    The ASOF join orders candidates by one struct, ``(event ts, created ts, position)``, so the
    row it picks (the greatest at or before the entity time) is the winner of docs/semantics.md
    without deduplicating the source first. A null created timestamp sorts as the smallest
    integer, below every real one.
    """

    # Rows per file are below 2**40, so (file index, row) packs into one BIGINT.
    ROWS_PER_FILE: ClassVar[int] = 1 << 40

    def file_list(self, files: tuple[str, ...]) -> str:
        return "[" + ", ".join(self.string(f) for f in files) + "]"

    def csv_scan(self, files: tuple[str, ...], types: Mapping[str, str]) -> str:
        """``read_csv`` with declared types applied to the named columns."""
        options = ["header = true"]
        if len(files) > 1:
            options.append("union_by_name = true")
        if types:
            pairs = ", ".join(f"{self.string(k)}: {self.string(v)}" for k, v in types.items())
            options.append(f"types = {{{pairs}}}")
        return f"read_csv({self.file_list(files)}, {', '.join(options)})"

    def parquet_scan(self, files: tuple[str, ...]) -> str:
        union = ", union_by_name = true" if len(files) > 1 else ""
        return f"read_parquet({self.file_list(files)}{union})"

    def scan(self, read: SourceRead) -> str:
        if read.file_format == "csv":
            declared = {
                c.source: self.type_name(c.dtype)
                for c in (*read.keys, *read.features)
                if c.dtype is not None and c.dtype != UnixTimestamp
            }
            return self.csv_scan(read.files, declared)
        return self.parquet_scan(read.files)

    def positions(self, read: SourceRead) -> tuple[str, str]:
        if read.file_format == "csv":
            # The CSV reader keeps file then row order; the row number counts across files.
            return "CAST(file_index AS BIGINT)", "row_number() OVER ()"
        file_pos = "CAST(file_index AS BIGINT)" if len(read.files) > 1 else "CAST(0 AS BIGINT)"
        return file_pos, "file_row_number"

    def position(self, read: SourceRead) -> str:
        """One BIGINT that grows with the row's place in the source."""
        row = self.ident(ROW_POS)
        if read.file_format == "csv" or len(read.files) == 1:
            return row
        return f"({self.ident(FILE_POS)} * {self.ROWS_PER_FILE} + {row})"

    def join_view(
        self, alias: str, view: ViewJoin, entity: str, event_ts: str, row_id: str
    ) -> JoinedView:
        read, ident = view.read, self.ident
        order = [("t", ident(EVENT_TS))]
        probe = [("t", f"{entity}.{ident(event_ts)}")]
        if read.created is not None:
            order.append(("c", f"coalesce(epoch_us({ident(CREATED_TS)}), {_MIN_BIGINT})"))
            probe.append(("c", str(_MAX_BIGINT)))
        order.append(("p", self.position(read)))
        probe.append(("p", str(_MAX_BIGINT)))
        columns = ", ".join(ident(c) for c in (*read.key_names, EVENT_TS, *view.features))
        cte = f"SELECT {columns}, {_struct(order)} AS __order FROM ({self.source_rows(read)})"
        on = [f"{entity}.{ident(k)} = {alias}.{ident(k)}" for k in read.key_names]
        on.append(f"{_struct(probe)} >= {alias}.__order")
        values = {f: f"{alias}.{ident(f)}" for f in view.features}
        if view.ttl_micros is not None:
            oldest = self.SUBTRACT_MICROS.format(f"{entity}.{ident(event_ts)}", view.ttl_micros)
            fresh = f"{alias}.{ident(EVENT_TS)} >= {oldest}"
            values = {f: f"CASE WHEN {fresh} THEN {v} END" for f, v in values.items()}
        return JoinedView(
            ctes=[(alias, cte)],
            clause=f"ASOF LEFT JOIN {alias} ON {' AND '.join(on)}",
            values=values,
        )


def _struct(fields: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"'{name}': {expr}" for name, expr in fields) + "}"
