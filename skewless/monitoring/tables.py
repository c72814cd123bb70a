"""Reading what users hand to monitoring (frames, tables, files) as one Arrow table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from skewless.errors import SkewlessError

__all__ = ["read_table"]

_FORMS = "a pandas or polars DataFrame, a pyarrow Table, or the path of Parquet data or a CSV file"


def read_table(value: Any, what: str, error: type[SkewlessError]) -> pa.Table:
    """``value`` as an Arrow table: a pyarrow Table or RecordBatch, a pandas or polars
    DataFrame, or a path (a ``.csv`` file, else Parquet: a file or a directory).

    Raises:
        error: ``value`` is none of those, or its path does not exist (the message names
            ``what`` and the forms accepted).
    """
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if isinstance(value, str | Path):
        path = Path(value)
        if not path.exists():
            raise error(
                f"the {what} {str(value)!r} is not a Parquet file or directory, nor a CSV "
                f"file: pass {_FORMS}"
            )
        if path.is_file() and path.suffix.lower() == ".csv":
            return pcsv.read_csv(path)
        return pq.read_table(path)
    module = type(value).__module__.split(".")[0]
    if module == "pandas" and hasattr(value, "columns"):
        return pa.Table.from_pandas(value, preserve_index=False)
    if module == "polars" and hasattr(value, "to_arrow"):
        return _polars_to_arrow(value)
    raise error(f"cannot read the {what} from a {type(value).__name__}: pass {_FORMS}")


def _polars_to_arrow(frame: Any) -> pa.Table:
    table: pa.Table = frame.to_arrow()
    for i, f in enumerate(table.schema):
        if pa.types.is_string_view(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.large_string()))
    return table
