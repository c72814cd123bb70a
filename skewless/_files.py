"""Writing files so that readers see the whole file or nothing, and a crash loses nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["file_identity", "write_parquet_atomically"]


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


def file_identity(path: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the file at ``path``, None when there is none: a file deleted
    or renamed over keeps its old identity in open handles, so a change means "reopen"."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
