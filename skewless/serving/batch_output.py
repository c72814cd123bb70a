"""Where batch predictions go: one Parquet file, written under a temporary name, then renamed."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from skewless.errors import EntityFrameError
from skewless.offline.entity import ENTITY_TIME, UTC_MICROS
from skewless.serving.batch_scoring import (
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    PROBABILITY_PREFIX,
    BatchScorer,
)

__all__ = ["AtomicParquet", "empty_output", "temporary_name"]


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path`` that no other writer uses."""
    return path.with_name(f".{path.name}.skewless-{uuid.uuid4().hex[:12]}.tmp")


def empty_output(scorer: BatchScorer, schema: pa.Schema) -> pa.Table:
    """The output of no rows: the entity columns, then the prediction columns."""
    fields = [f for f in schema if f.name != ENTITY_TIME]
    fields.append(pa.field(ENTITY_TIME, UTC_MICROS))
    classes = scorer.model.classes
    kind = pa.array(classes).type if classes else pa.float64()
    fields.append(pa.field(PREDICTION, kind))
    if scorer.model.is_classifier and classes:
        fields += [pa.field(f"{PROBABILITY_PREFIX}{c}", pa.float64()) for c in classes]
    fields += [pa.field(MODEL_NAME, pa.string()), pa.field(MODEL_VERSION, pa.int64())]
    return pa.schema(fields).empty_table()


class AtomicParquet:
    """One Parquet file written batch by batch under a temporary name, then renamed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().absolute()
        if self.path.is_dir():
            raise EntityFrameError(
                f"the output {str(path)!r} is a directory: give the path of a Parquet file"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temp = temporary_name(self.path)
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.temp, table.schema)
        self._writer.write_table(table)

    def commit(self, empty: pa.Table | None = None) -> None:
        if self._writer is None:
            pq.write_table(empty if empty is not None else pa.table({}), self.temp)
        else:
            self._writer.close()
            self._writer = None
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.temp.unlink(missing_ok=True)
