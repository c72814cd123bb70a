"""Where a source's rows live, and how its columns map to a view's names (engine-neutral).

A ``FileSource`` path may be one file, a directory (every file of the source's format under
it) or a glob. It resolves to a sorted tuple of files: "later in the source" (the last
tie-break of docs/semantics.md) means later in this order, then later within the file.
"""

from __future__ import annotations

import fcntl
import glob
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from skewless._files import write_parquet_atomically
from skewless.definitions import FeatureView, FileSource, PushSource
from skewless.errors import DefinitionError, SchemaMismatchError, SourceNotFoundError

__all__ = [
    "PushTarget",
    "SourceColumns",
    "push_target",
    "resolve_files",
    "resolve_location",
    "source_columns",
]

_EXTENSIONS = {"parquet": (".parquet",), "csv": (".csv", ".csv.gz")}
_GLOB_CHARS = frozenset("*?[")
_PUSH_TAG = re.compile(r"push-\d{8}T\d{12}Z-[0-9a-f]{8}")


def _batch(source: FileSource | PushSource) -> FileSource:
    return source.batch_source if isinstance(source, PushSource) else source


def resolve_location(source: FileSource | PushSource, repo_path: Path) -> Path:
    """The source path made absolute (a relative path is relative to the repository)."""
    path = Path(_batch(source).path).expanduser()
    return path if path.is_absolute() else Path(repo_path) / path


def resolve_files(source: FileSource | PushSource, repo_path: Path) -> tuple[str, ...]:
    """The files a source reads, in lexicographic path order.

    Hidden files and names starting with ``_`` (``_SUCCESS``, temporary files of a push in
    progress) are skipped in directories and globs.

    Raises:
        SourceNotFoundError: no file matches; the message names the path and where it looked.
    """
    source = _batch(source)
    location = resolve_location(source, repo_path).absolute()
    text = str(location)
    extensions = _EXTENSIONS[source.file_format]
    if any(ch in text for ch in _GLOB_CHARS):
        found = [p for p in glob.glob(text, recursive=True) if Path(p).is_file()]
        files = [p for p in found if _visible(Path(p))]
    elif location.is_dir():
        files = [
            str(p)
            for p in location.rglob("*")
            if p.is_file() and p.name.lower().endswith(extensions) and _visible(p, location)
        ]
    elif location.is_file():
        files = [text]
    else:
        files = []
    if not files:
        what = "glob" if any(ch in text for ch in _GLOB_CHARS) else "path"
        kind = "directory holds no " + "/".join(extensions) + " file" if location.is_dir() else ""
        detail = f" (the {kind})" if kind else ""
        raise SourceNotFoundError(
            f"source {source.path!r} matches no file: {what} resolved to {text}{detail}; "
            "create the file or fix FileSource(path=...) (relative paths are relative to "
            "the repository directory)"
        )
    return tuple(sorted(files))


def _visible(path: Path, root: Path | None = None) -> bool:
    parts = path.relative_to(root).parts if root is not None else (path.name,)
    return not any(part.startswith((".", "_")) for part in parts)


@dataclass(frozen=True)
class SourceColumns:
    """The source column behind each name a view uses (after ``field_mapping``).

    Attributes:
        keys: view join key -> source column.
        features: view feature -> source column.
        timestamp: the event timestamp's source column.
        created: the created timestamp's source column, or None.
        event_id: the source column identifying events (aggregation views), or None.
    """

    keys: Mapping[str, str]
    features: Mapping[str, str]
    timestamp: str
    created: str | None
    event_id: str | None = None


def source_columns(view: FeatureView, available: Mapping[str, object]) -> SourceColumns:
    """Map the view's names to source columns, checking that each exists.

    ``available`` holds the source's raw column names. ``timestamp_field`` and
    ``created_timestamp_column`` may name either the raw column or its mapped name.

    Raises:
        SchemaMismatchError: a column the view needs is not in the source.
    """
    mapping = view.source.field_mapping
    inverse = {dst: src for src, dst in mapping.items()}
    mapped = sorted({mapping.get(c, c) for c in available})

    def find(name: str, role: str, *, raw_ok: bool = False) -> str:
        if name in inverse and inverse[name] in available:
            return inverse[name]
        if name in available and (raw_ok or name not in mapping):
            return name
        raise SchemaMismatchError(
            f"feature view {view.name!r}: {role} {name!r} is not a column of source "
            f"{view.source.path!r} (columns: {', '.join(mapped)}); fix the definition or map "
            "the source column with FileSource(field_mapping={...})"
        )

    created = view.source.created_timestamp_column
    event_id = getattr(view, "event_id", "")
    return SourceColumns(
        keys={k: find(k, "join key") for k in view.join_keys},
        features={f.name: find(f.name, "feature") for f in view.value_columns},
        timestamp=find(view.source.timestamp_field, "timestamp field", raw_ok=True),
        created=find(created, "created timestamp column", raw_ok=True) if created else None,
        event_id=find(event_id, "event_id column") if event_id else None,
    )


@dataclass(frozen=True)
class PushTarget:
    """Where offline pushes of a source land: new files ``prefix + tag + suffix`` in
    ``directory``, named so that they sort after every file the source already has.

    Attributes:
        directory: the directory new files are written to (absolute).
        prefix: the start of every new file name (the fixed part of a glob's file name).
        suffix: the end of every new file name (``.parquet`` for a directory source).
        single_file: for a batch source that is one Parquet file, that file: pushes append
            their rows to it (:func:`append_to_file`) instead of adding files.
    """

    directory: Path
    prefix: str
    suffix: str
    single_file: Path | None = None

    def new_name(self, existing: tuple[str, ...], tag: str) -> str:
        """A file name holding ``tag`` whose path sorts after every path in ``existing``.

        Time-based tags sort in push order; when a file already sorts after the plain name
        (a subdirectory or a name later in the alphabet), the new name extends the last
        file's name with ``~`` so that it still comes last.

        Raises:
            DefinitionError: no name matching the source's glob can sort last.
        """
        name = f"{self.prefix}{tag}{self.suffix}"
        last = max(existing, default="")
        if str(self.directory / name) > last:
            return name
        relative = Path(last).relative_to(self.directory).as_posix() if last else ""
        if relative.startswith(self.prefix):
            rest = relative[len(self.prefix) :]
            if "/" in rest:
                middle = rest.split("/", 1)[0]
            else:
                middle = rest[: len(rest) - len(self.suffix)] if self.suffix else rest
            # After an earlier push named this way, reuse its base rather than growing it.
            base = _PUSH_TAG.split(middle, maxsplit=1)[0].removesuffix("~")
            for stem in dict.fromkeys((base, middle)):
                name = f"{self.prefix}{stem}~{tag}{self.suffix}"
                if str(self.directory / name) > last:
                    return name
        raise DefinitionError(
            f"cannot name a pushed file in {self.directory} that sorts after {last}: pushed "
            "rows must come last in the source; move that file or use a glob that excludes it"
        )


def append_to_file(table: pa.Table, file: Path) -> Path:
    """Append ``table``'s rows to the Parquet ``file`` (created if missing), as Feast's file
    source does: the file is rewritten whole under an exclusive lock and replaced atomically,
    so readers see the old rows or all of them, and concurrent pushes both land.

    Rewriting costs time in the size of the file; a directory source (one new file per
    push) does not.
    """
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.parent / f".{file.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if file.exists():
                old = pq.read_table(file)
                metadata = old.schema.metadata
                new = (
                    table.cast(old.schema.remove_metadata())
                    if table.schema != old.schema
                    else table
                )
                merged = pa.concat_tables(
                    [old.replace_schema_metadata(None), new.replace_schema_metadata(None)]
                )
                table = merged.replace_schema_metadata(metadata)
            return write_parquet_atomically(table, file)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def push_target(source: FileSource | PushSource, repo_path: Path) -> PushTarget:
    """Where offline pushes to ``source`` write, or why they cannot.

    The batch source must be Parquet and a directory, or a glob whose ``*`` wildcards are in
    the file name (``data/events/*.parquet``, ``data/events/**/*.parquet``).

    Raises:
        DefinitionError: the source is one file, CSV, or a glob that no new file can match.
    """
    batch = _batch(source)
    location = resolve_location(batch, repo_path).absolute()
    what = f"batch source {batch.path!r}"
    if batch.file_format != "parquet":
        raise DefinitionError(
            f"{what} is CSV, but offline pushes write Parquet files: use a directory of "
            "Parquet files as the batch source"
        )
    text = str(location)
    if not any(ch in text for ch in _GLOB_CHARS):
        if location.is_file() or (not location.is_dir() and location.suffix):
            return PushTarget(location.parent, location.name, "", single_file=location)
        return PushTarget(location, "", ".parquet")
    parts = location.parts
    fixed = next(i for i, part in enumerate(parts) if any(ch in part for ch in _GLOB_CHARS))
    pattern = parts[-1]
    middle = parts[fixed:-1]
    if any(part != "**" for part in middle):
        raise DefinitionError(
            f"{what} is a glob with wildcards outside its file name, so offline pushes cannot "
            "tell which directory to write to: use a glob like 'data/my_source/*.parquet'"
        )
    if "*" not in pattern or "?" in pattern or "[" in pattern:
        raise DefinitionError(
            f"{what} is a glob whose file name needs '*' and no other wildcard for offline "
            "pushes to name new files: use a glob like 'data/my_source/*.parquet'"
        )
    star, last_star = pattern.index("*"), pattern.rindex("*")
    return PushTarget(Path(*parts[:fixed]), pattern[:star], pattern[last_star + 1 :])
