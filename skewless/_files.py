"""Writing files so that readers see the whole file or nothing, and a crash loses nothing."""

from __future__ import annotations

import fcntl
import os
import re
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "file_identity",
    "is_temporary",
    "remove_stale_temporaries",
    "write_parquet_atomically",
    "write_text_atomically",
]

_TEMPORARY = re.compile(r"\.[0-9a-f]{32}\.tmp")


def is_temporary(name: str) -> bool:
    """Whether a file name is one :func:`write_parquet_atomically` writes before its rename.

    >>> is_temporary(".0123456789abcdef0123456789abcdef.tmp"), is_temporary("x.tmp")
    (True, False)
    """
    return _TEMPORARY.fullmatch(name) is not None


def write_parquet_atomically(table: pa.Table, target: Path) -> Path:
    """Write ``table`` to ``target``: a hidden temporary file in the same directory, flushed to
    disk, renamed over ``target``, then the directory flushed. Returns ``target``.

    The writer holds an exclusive ``flock`` on the temporary file until the rename, so
    :func:`remove_stale_temporaries` never removes a file that is still being written; the
    kernel drops the lock when a writer dies, so a crashed write leaves an unlocked file.
    """
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{uuid.uuid4().hex}.tmp"
    held = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        pq.write_table(table, temporary)
        os.fsync(held)  # the same file: the data pyarrow wrote reaches the disk
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        os.close(held)
    _fsync(directory)
    return target


def write_text_atomically(target: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` as :func:`write_parquet_atomically` writes a
    table: a temporary file beside it, flushed, then renamed over it. Returns ``target``."""
    target = Path(target)
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, "x", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(directory)
    return target


def remove_stale_temporaries(directory: Path, older_than: float) -> int:
    """Remove the temporary files that crashed writes left in ``directory``; how many.

    A file goes only when its name is one :func:`write_parquet_atomically` gives, it was last
    modified more than ``older_than`` seconds ago, and no live writer holds its lock.
    """
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for entry in entries:
        if not is_temporary(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if time.time() - entry.stat().st_mtime <= older_than:
                continue
            handle = os.open(entry.path, os.O_RDONLY)
        except FileNotFoundError:  # renamed into place meanwhile
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live writer
            os.close(handle)
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            pass
        finally:
            os.close(handle)
    return removed


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
