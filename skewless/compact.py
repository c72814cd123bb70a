"""Compaction: merge the small files that offline pushes leave, without changing any answer.

Point-in-time answers depend on the order of rows in a source: among rows equal on event and
created time, the later one (later file, then later row) wins. So compaction only merges runs
of pushed files that are *adjacent* in the source's file order, keeps their rows in (file
order, row order), and writes the merged file under the name of the run's last file (an
atomic replace), so it sorts exactly where the run sorted. The other files of the run are
removed afterwards; a reader in between sees some rows twice, each copy no later than the
original winner's, which changes no point-in-time answer.

Compaction also removes the hidden temporary files that crashed writes left in those
directories: files older than ``stale_after`` that no live writer holds (see
:func:`skewless._files.remove_stale_temporaries`).

Example:
    >>> CompactReport(()).render()
    'no pushed files to compact'
"""

from __future__ import annotations

import fcntl
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from skewless._files import remove_stale_temporaries
from skewless.definitions import FeatureView, PushSource
from skewless.errors import SkewlessError, SourceNotFoundError, UnknownObjectError
from skewless.offline.sources import PushTarget, push_target, resolve_files
from skewless.push import write_parquet_atomically
from skewless.registry.snapshot import RegistrySnapshot

__all__ = [
    "STALE_AFTER",
    "CompactReport",
    "CompactedSource",
    "compact",
    "is_pushed_file",
    "pushed_runs",
]

STALE_AFTER = timedelta(hours=1)
"""How old an unlocked temporary file must be before compaction removes it."""

logger = logging.getLogger("skewless")

_PUSHED = re.compile(r"push-\d{8}T\d{12}Z-[0-9a-f]{8}")
_LOCK = ".skewless-compact.lock"


def is_pushed_file(path: str) -> bool:
    """Whether ``path`` is a file written by an offline push (or a merge of such files).

    >>> is_pushed_file("data/e/push-20240101T000000000000Z-0123abcd.parquet")
    True
    >>> is_pushed_file("data/e/part-000.parquet")
    False
    """
    return _PUSHED.search(Path(path).name) is not None


def pushed_runs(files: Sequence[str], min_files: int = 2) -> list[list[str]]:
    """Runs of at least ``min_files`` pushed files that are adjacent in ``files`` (sorted).

    >>> pushed_runs(["a.parquet", "push-20240101T000000000000Z-00000000.parquet",
    ...     "push-20240101T000000000001Z-00000000.parquet"])  # doctest: +ELLIPSIS
    [['push-...', 'push-...']]
    """
    runs: list[list[str]] = []
    current: list[str] = []
    for path in [*files, ""]:
        if path and is_pushed_file(path):
            current.append(path)
            continue
        if len(current) >= min_files:
            runs.append(current)
        current = []
    return runs


@dataclass(frozen=True)
class CompactedSource:
    """What compaction did to one batch source.

    Attributes:
        path: the batch source's path as defined.
        views: the feature views reading it.
        files_before: pushed files before compaction.
        files_after: pushed files after compaction.
        rows: rows rewritten.
        temporaries_removed: stale temporary files of crashed writes removed.
    """

    path: str
    views: tuple[str, ...]
    files_before: int
    files_after: int
    rows: int
    temporaries_removed: int = 0


@dataclass(frozen=True)
class CompactReport:
    """The outcome of :func:`compact`, per batch source."""

    sources: tuple[CompactedSource, ...]

    @property
    def temporaries_removed(self) -> int:
        """Stale temporary files removed, over every source."""
        return sum(s.temporaries_removed for s in self.sources)

    def render(self) -> str:
        """One line per source, e.g. ``data/events (events): 12 -> 1 pushed files, 340 rows
        rewritten, 2 stale temporary files removed``."""
        if not self.sources:
            return "no pushed files to compact"
        return "\n".join(
            f"{s.path} ({', '.join(s.views)}): {s.files_before} -> {s.files_after} pushed "
            f"files, {s.rows:,} rows rewritten, {s.temporaries_removed} stale temporary "
            f"file{'' if s.temporaries_removed == 1 else 's'} removed"
            for s in self.sources
        )

    def __str__(self) -> str:
        return self.render()


def compact(
    snapshot: RegistrySnapshot,
    repo_path: Path,
    feature_views: Sequence[str] | None = None,
    *,
    min_files: int = 2,
    stale_after: timedelta = STALE_AFTER,
) -> CompactReport:
    """Merge adjacent pushed files of the batch sources of push-fed views.

    Args:
        snapshot: the definitions.
        repo_path: relative source paths resolve against it.
        feature_views: only the sources of these views (default: every push-fed view).
        min_files: the fewest adjacent pushed files worth merging.
        stale_after: remove temporary files of crashed writes older than this (a file a
            live writer holds is never removed, whatever its age).

    Raises:
        UnknownObjectError: a named view does not exist or is not fed by a push source.
        SkewlessError: ``stale_after`` is negative.
    """
    if not isinstance(stale_after, timedelta) or stale_after < timedelta(0):
        raise SkewlessError(
            f"stale_after must be a non-negative timedelta, got {stale_after!r}: temporary "
            "files older than it are removed"
        )
    sources: dict[str, tuple[PushSource, list[str]]] = {}
    for view in _views(snapshot, feature_views):
        assert isinstance(view.source, PushSource)
        key = str(push_target(view.source, repo_path).directory)
        entry = sources.setdefault(key, (view.source, []))
        entry[1].append(view.name)
    done = []
    for source, views in sources.values():
        target = push_target(source, repo_path)
        with _locked(target.directory):
            compacted = _compact_source(source, views, target, repo_path, min_files)
            removed = remove_stale_temporaries(target.directory, stale_after.total_seconds())
            if removed:
                logger.info("removed %d stale temporary files in %s", removed, target.directory)
            done.append(replace(compacted, temporaries_removed=removed))
    return CompactReport(tuple(done))


def _views(snapshot: RegistrySnapshot, names: Sequence[str] | None) -> list[FeatureView]:
    fed = {n: v for n, v in snapshot.feature_views.items() if isinstance(v.source, PushSource)}
    if names is None:
        return list(fed.values())
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in fed]
    if unknown:
        listing = ", ".join(sorted(fed)) or "none"
        raise UnknownObjectError(
            f"feature view(s) {', '.join(map(repr, unknown))} are not fed by a push source, so "
            f"they have no pushed files to compact (push-fed views: {listing})"
        )
    return [fed[n] for n in dict.fromkeys(names)]


def _compact_source(
    source: PushSource, views: list[str], target: PushTarget, repo_path: Path, min_files: int
) -> CompactedSource:
    try:
        files = resolve_files(source, repo_path)
    except SourceNotFoundError:
        files = ()
    pushed_before = sum(1 for f in files if is_pushed_file(f))
    merged_away = rows = 0
    for run in pushed_runs(files, min_files):
        rows += _merge(run)
        merged_away += len(run) - 1
    if merged_away:
        logger.info("compacted %s: %d files merged", source.path, merged_away + 1)
    return CompactedSource(
        source.batch_source.path, tuple(views), pushed_before, pushed_before - merged_away, rows
    )


def _merge(run: list[str]) -> int:
    """Merge ``run`` into its last file (atomic replace), then remove the others."""
    tables = [pq.read_table(path) for path in run]
    merged = pa.concat_tables(
        [t.replace_schema_metadata(None) for t in tables], promote_options="permissive"
    )
    last = Path(run[-1])
    target = PushTarget(last.parent, "", "")
    write_parquet_atomically(merged, target, (), name=last.name)
    for path in run[:-1]:
        Path(path).unlink(missing_ok=True)
    return merged.num_rows


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One compaction per directory at a time (pushes need no lock: they only add files)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / _LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
