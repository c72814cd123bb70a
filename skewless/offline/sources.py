"""Where a source's rows live, and how its columns map to a view's names (engine-neutral).

A ``FileSource`` path may be one file, a directory (every file of the source's format under
it) or a glob. It resolves to a sorted tuple of files: "later in the source" (the last
tie-break of SEMANTICS.md) means later in this order, then later within the file.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from skewless.definitions import FeatureView, FileSource
from skewless.errors import SchemaMismatchError, SourceNotFoundError

__all__ = ["SourceColumns", "resolve_files", "resolve_location", "source_columns"]

_EXTENSIONS = {"parquet": (".parquet",), "csv": (".csv", ".csv.gz")}
_GLOB_CHARS = frozenset("*?[")


def resolve_location(source: FileSource, repo_path: Path) -> Path:
    """The source path made absolute (a relative path is relative to the repository)."""
    path = Path(source.path).expanduser()
    return path if path.is_absolute() else Path(repo_path) / path


def resolve_files(source: FileSource, repo_path: Path) -> tuple[str, ...]:
    """The files a source reads, in lexicographic path order.

    Hidden files and names starting with ``_`` (``_SUCCESS``, temporary files of a push in
    progress) are skipped in directories and globs.

    Raises:
        SourceNotFoundError: no file matches; the message names the path and where it looked.
    """
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
    """

    keys: Mapping[str, str]
    features: Mapping[str, str]
    timestamp: str
    created: str | None


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
    return SourceColumns(
        keys={k: find(k, "join key") for k in view.join_keys},
        features={f: find(f, "feature") for f in view.feature_names},
        timestamp=find(view.source.timestamp_field, "timestamp field", raw_ok=True),
        created=find(created, "created timestamp column", raw_ok=True) if created else None,
    )
