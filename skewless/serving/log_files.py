"""Where a prediction log's files live, how they are named, and how one appears on disk.

A log ``NAME`` of the repository ``root`` is the directory
``root/data/prediction_logs/NAME``: one ``date=YYYY-MM-DD`` partition per UTC day holding
``part-<UTC timestamp>-<pid>-<seq>.parquet`` files, and ``_feedback/date=YYYY-MM-DD`` for the
outcomes recorded against it. A file appears whole or not at all: it is written under a hidden
temporary name in its directory, flushed to disk, then linked to its final name (which never
replaces another file) and the directory flushed. Readers skip names starting with ``.`` or
``_``.

Compaction merges the parts of a past day into one ``merged-...parquet`` file whose Parquet
metadata lists the files it replaces; :func:`visible_files` leaves those out, so a reader
sees every row once even when a compaction stopped between writing the merged file and
removing its parts.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from skewless._time import to_utc
from skewless.errors import PredictionLogError

__all__ = [
    "FEEDBACK_DIR",
    "REPLACES_KEY",
    "check_log_name",
    "date_partitions",
    "feedback_dir",
    "file_name",
    "files_between",
    "fsync_directory",
    "log_dir",
    "logs_root",
    "partition_date",
    "partition_name",
    "publish",
    "publish_parquet",
    "replaced_files",
    "visible_files",
]

FEEDBACK_DIR = "_feedback"
REPLACES_KEY = b"skewless.replaces"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_SEQUENCE = itertools.count()
_SEQUENCE_LOCK = threading.Lock()
logger = logging.getLogger("skewless.serving.logs")
_NO_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV})


def check_log_name(name: object) -> str:
    """``name`` when it can name a log directory, else a :class:`PredictionLogError`.

    >>> check_log_name("churn-model")
    'churn-model'
    """
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise PredictionLogError(
            f"prediction log name {name!r} is not a valid name: use letters, digits, '_', '-' "
            "and '.', starting with a letter or digit (the registered model's name, e.g. churn)"
        )
    return name


def logs_root(root: Path) -> Path:
    """The directory holding every prediction log of the repository ``root``."""
    return Path(root) / "data" / "prediction_logs"


def log_dir(root: Path, name: str) -> Path:
    """The directory of the log ``name``."""
    return logs_root(root) / check_log_name(name)


def feedback_dir(root: Path, name: str) -> Path:
    """The directory of the feedback recorded against the log ``name``."""
    return log_dir(root, name) / FEEDBACK_DIR


def partition_name(day: date) -> str:
    """``date=YYYY-MM-DD``.

    >>> partition_name(date(2024, 1, 31))
    'date=2024-01-31'
    """
    return f"date={day.isoformat()}"


def partition_date(directory_name: str) -> date | None:
    """The day of a partition directory's name, None for any other name.

    >>> partition_date("date=2024-01-31"), partition_date(".date=2024-01-31")
    (datetime.date(2024, 1, 31), None)
    """
    found = _PARTITION.match(directory_name)
    if found is None:
        return None
    try:
        return date.fromisoformat(found.group(1))
    except ValueError:
        return None


def date_partitions(directory: Path) -> list[tuple[date, Path]]:
    """The ``date=`` partitions under ``directory``, oldest first."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    days = [
        (day, Path(entry.path))
        for entry in entries
        if entry.is_dir(follow_symlinks=False) and (day := partition_date(entry.name)) is not None
    ]
    return sorted(days)


def file_name(prefix: str, when: datetime) -> str:
    """A new file name: ``<prefix>-<UTC timestamp>-<pid>-<seq>.parquet``.

    The process id and a per-process sequence keep the names of writers on one host apart;
    :func:`publish_parquet` never replaces an existing file, whatever the name.
    """
    with _SEQUENCE_LOCK:
        seq = next(_SEQUENCE)
    stamp = to_utc(when).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{prefix}-{stamp}-{os.getpid()}-{seq:06d}.parquet"


def publish_parquet(
    table: pa.Table,
    directory: Path,
    prefix: str,
    when: datetime,
    metadata: dict[bytes, bytes] | None = None,
) -> Path:
    """Write ``table`` as a new file of ``directory`` named by :func:`file_name`; its path.

    See :func:`publish` for how the file appears.
    """
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    return publish(directory, prefix, when, lambda path: pq.write_table(table, path))


def publish(directory: Path, prefix: str, when: datetime, write: Callable[[Path], object]) -> Path:
    """A new file of ``directory`` named by :func:`file_name`, its bytes written by
    ``write(path)``; its path.

    ``write`` writes a hidden temporary file (``.<hex>.tmp``, locked meanwhile, so
    :func:`skewless._files.remove_stale_temporaries` leaves a live write alone), which is
    flushed to disk and then hard-linked to its final name; the link fails rather than replace
    a file of the same name (a new name is taken then). The directory is flushed last.
    """
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{uuid.uuid4().hex}.tmp"
    held = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        write(temporary)
        os.fsync(held)
        target = _link_new(temporary, directory, prefix, when)
    finally:
        temporary.unlink(missing_ok=True)
        os.close(held)
    try:
        fsync_directory(directory)
    except OSError as exc:  # the file is in place: raising would make callers write it twice
        logger.warning("cannot flush directory %s to disk: %s", directory, exc)
    return target


def _link_new(temporary: Path, directory: Path, prefix: str, when: datetime) -> Path:
    while True:
        target = directory / file_name(prefix, when)
        try:
            os.link(temporary, target)
            return target
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            # A file system without hard links: the name (pid and sequence) is still unique.
            if not target.exists():
                os.replace(temporary, target)
                return target


def fsync_directory(directory: Path) -> None:
    """Flush a directory's entries (new, renamed or removed files) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replaced_files(path: Path) -> list[str]:
    """The names of the files a merged file replaces (empty for a part)."""
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(REPLACES_KEY)
    if not raw:
        return []
    names = json.loads(raw)
    return [str(n) for n in names]


def visible_files(directory: Path) -> list[Path]:
    """The Parquet files of one partition a reader sees, in name order.

    Hidden and ``_`` names are skipped, and so is every file a merged file replaces.
    """
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(directory)
            if entry.name.endswith(".parquet")
            and not entry.name.startswith((".", "_"))
            and entry.is_file(follow_symlinks=False)
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    replaced: set[str] = set()
    for name in names:
        if name.startswith("merged-"):
            try:
                replaced.update(replaced_files(directory / name))
            except FileNotFoundError:  # itself replaced meanwhile
                replaced.add(name)
    return [directory / n for n in names if n not in replaced]


def files_between(directory: Path, first: date | None, last: date | None) -> list[Path]:
    """The visible files of the partitions of ``directory`` from ``first`` to ``last``."""
    return list(
        itertools.chain.from_iterable(
            visible_files(path)
            for day, path in date_partitions(directory)
            if (first is None or day >= first) and (last is None or day <= last)
        )
    )
