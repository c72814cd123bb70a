"""Step outputs on disk, for caching and resume: ``data/pipelines/<name>/<run_id>/<step>``.

An Arrow table is kept as Parquet (``<step>.parquet``); anything else as a cloudpickle
(``<step>.pkl``). Each file is written to a temporary name, flushed and renamed, so a reader
sees a whole output or none. The digest of an output is the sha256 of its pickle, which is
also what its downstream steps' cache keys are made of.
"""

from __future__ import annotations

import hashlib
import reprlib
from pathlib import Path
from typing import Any

import cloudpickle
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from skewless._files import write_parquet_atomically
from skewless.errors import PipelineInputError

__all__ = ["OUTPUTS_DIR", "OutputStore", "digest_of", "preview_of", "value_digest"]

OUTPUTS_DIR = Path("data") / "pipelines"
"""Where step outputs live, relative to the repository."""

_PREVIEW = reprlib.Repr()
_PREVIEW.maxstring = 80
_PREVIEW.maxother = 80
_PREVIEW.maxlist = _PREVIEW.maxdict = _PREVIEW.maxtuple = 6


def digest_of(payload: bytes) -> str:
    """sha256 of ``payload``, as hex."""
    return hashlib.sha256(payload).hexdigest()


def value_digest(value: Any) -> str:
    """The digest of a param value: its canonical JSON, or its pickle when not JSON.

    >>> value_digest({"b": 1, "a": 2}) == value_digest({"a": 2, "b": 1})
    True
    """
    try:
        payload = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        payload = cloudpickle.dumps(value)
    return digest_of(payload)


def preview_of(value: Any) -> str:
    """A short text of an output: a table's shape, else a shortened ``repr``.

    >>> preview_of(pa.table({"a": [1, 2]}))
    'Table: 2 rows x 1 columns (a)'
    >>> preview_of(list(range(100)))
    '[0, 1, 2, 3, 4, 5, ...]'
    """
    if isinstance(value, pa.Table):
        return f"Table: {value.num_rows:,} rows x {value.num_columns} columns ({_names(value)})"
    shape = getattr(value, "shape", None)
    if type(value).__name__ == "DataFrame" and isinstance(shape, tuple) and len(shape) == 2:
        columns = ", ".join(str(c) for c in list(value.columns)[:6])
        more = ", ..." if shape[1] > 6 else ""
        return f"DataFrame: {shape[0]:,} rows x {shape[1]} columns ({columns}{more})"
    try:
        return _PREVIEW.repr(value)
    except Exception:  # a repr that raises is still an output
        return f"<{type(value).__name__}>"


def _names(table: pa.Table) -> str:
    names = table.column_names
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")


class OutputStore:
    """Step outputs of a repository's pipeline runs.

    Args:
        repo_path: the repository.
    """

    def __init__(self, repo_path: str | Path) -> None:
        self.root = Path(repo_path).resolve()

    def save(self, pipeline: str, run_id: str, step: str, value: Any) -> tuple[str, str]:
        """Keep ``value`` as the output of ``step``; its path (relative) and digest."""
        payload = cloudpickle.dumps(value)
        directory = OUTPUTS_DIR / pipeline / run_id
        if isinstance(value, pa.Table):
            rel = directory / f"{step}.parquet"
            write_parquet_atomically(value, self.root / rel)
        else:
            rel = directory / f"{step}.pkl"
            _write_bytes_atomically(self.root / rel, payload)
        return rel.as_posix(), digest_of(payload)

    def exists(self, rel: str) -> bool:
        """Whether the output file ``rel`` is still there."""
        return bool(rel) and (self.root / rel).is_file()

    def load(self, rel: str) -> Any:
        """The output kept at ``rel``.

        Raises:
            PipelineInputError: the file is missing.
        """
        path = self.root / rel
        if not path.is_file():
            raise PipelineInputError(
                f"the step output {rel} is missing: run the pipeline again without --resume"
            )
        if path.suffix == ".parquet":
            return pq.read_table(path)
        return cloudpickle.loads(path.read_bytes())


def _write_bytes_atomically(target: Path, payload: bytes) -> None:
    import os
    import uuid

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, "xb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
