"""Writing files so that readers see the whole file or nothing, and a crash loses nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["write_parquet_atomically"]


def write_parquet_atomically(table: pa.Table, target: Path) -> Path:
    """Write ``table`` to ``target``: a hidden temporary file in the same directory, flushed to
    disk, renamed over ``target``, then the directory flushed. Returns ``target``."""
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, temporary)
        _fsync(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(directory)
    return target


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
