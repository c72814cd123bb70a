"""The entities of a batch prediction, read in bounded batches.

A frame (pandas, polars, Arrow) is sliced; a Parquet file or directory is read batch by
batch with its schema known before any row is read; a CSV file is read block by block. Only
one batch of entity rows is held at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from skewless.errors import EntityFrameError
from skewless.retrieval import entity_table

__all__ = ["EntityInput", "EntityReader", "open_entities"]

EntityInput: TypeAlias = "Any"
"""A pandas or polars DataFrame, an Arrow table, or the path of a Parquet file or directory
or a CSV file (``.csv``)."""

_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv",)
_CSV_BLOCK = 8 << 20


class EntityReader:
    """Entity rows in batches of at most ``batch_rows``.

    Attributes:
        schema: the entity columns.
        total_rows: the number of rows when known before reading (None for CSV).
        source: what was read, for messages.
    """

    def __init__(
        self,
        schema: pa.Schema,
        batches: Any,
        batch_rows: int,
        total_rows: int | None,
        source: str,
    ) -> None:
        self.schema = schema
        self._batches = batches
        self.batch_rows = batch_rows
        self.total_rows = total_rows
        self.source = source

    def batches(self) -> Iterator[pa.Table]:
        """The rows, in order, as tables of at most ``batch_rows`` rows."""
        pending: list[pa.RecordBatch] = []
        held = 0
        try:
            for batch in self._batches():
                parts = batch.to_batches() if isinstance(batch, pa.Table) else [batch]
                for part in parts:
                    offset = 0
                    while offset < part.num_rows:
                        take = min(self.batch_rows - held, part.num_rows - offset)
                        pending.append(part.slice(offset, take))
                        held += take
                        offset += take
                        if held == self.batch_rows:
                            yield pa.Table.from_batches(pending, self.schema)
                            pending, held = [], 0
        except (pa.ArrowInvalid, OSError) as exc:
            raise _unreadable(self.source, exc) from None
        if held:
            yield pa.Table.from_batches(pending, self.schema)

    def table(self) -> pa.Table:
        """Every row at once (the Spark path sends them to the cluster in one piece)."""
        return pa.concat_tables([*self.batches()]) if self.total_rows != 0 else self.empty()

    def empty(self) -> pa.Table:
        return self.schema.empty_table()


def _unreadable(source: str, exc: BaseException) -> EntityFrameError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return EntityFrameError(
        f"cannot read the entities from {source} ({reason}): give a Parquet file or "
        "directory, or a CSV file with a header row"
    )


def open_entities(entities: EntityInput, batch_rows: int) -> EntityReader:
    """A reader of ``entities``; a file's schema is read (and checked readable) here.

    Raises:
        EntityFrameError: the file does not exist, is neither Parquet nor CSV, or cannot be
            read; or the frame is of an unknown kind.
    """
    if isinstance(entities, (str, Path)):
        return _open_path(Path(entities).expanduser(), str(entities), batch_rows)
    table = entity_table(entities)
    return EntityReader(
        table.schema, lambda: table.to_batches(), batch_rows, table.num_rows, "the entity frame"
    )


def _open_path(path: Path, given: str, batch_rows: int) -> EntityReader:
    if not path.exists():
        raise EntityFrameError(
            f"the entity file {given!r} does not exist (looked at {path.absolute()}): give "
            "the path of a Parquet or CSV file"
        )
    source = f"{given!r}"
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            return _parquet_dir(path, source, batch_rows)
        if suffix in _CSV:
            return _csv(path, source, batch_rows)
        if suffix in _PARQUET or not suffix:
            return _parquet(path, source, batch_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(source, exc) from None
    raise EntityFrameError(
        f"the entity file {given!r} is neither Parquet ({', '.join(_PARQUET)}) nor CSV "
        "(.csv): convert it, or rename it if it is one of them"
    )


def _parquet(path: Path, source: str, batch_rows: int) -> EntityReader:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    schema = file.schema_arrow

    def batches() -> Iterator[pa.RecordBatch]:
        with pq.ParquetFile(path) as reader:
            yield from reader.iter_batches(batch_size=batch_rows)

    rows = file.metadata.num_rows
    file.close()
    return EntityReader(schema, batches, batch_rows, rows, source)


def _parquet_dir(path: Path, source: str, batch_rows: int) -> EntityReader:
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet")
    return EntityReader(
        dataset.schema,
        lambda: dataset.to_batches(batch_size=batch_rows),
        batch_rows,
        dataset.count_rows(),
        source,
    )


def _csv(path: Path, source: str, batch_rows: int) -> EntityReader:
    from pyarrow import csv

    read = csv.ReadOptions(block_size=_CSV_BLOCK)
    convert = csv.ConvertOptions(timestamp_parsers=[csv.ISO8601])
    with csv.open_csv(path, read_options=read, convert_options=convert) as probe:
        schema = probe.schema

    def batches() -> Iterator[pa.RecordBatch]:
        with csv.open_csv(path, read_options=read, convert_options=convert) as reader:
            yield from reader

    return EntityReader(schema, batches, batch_rows, None, source)
