"""Data sources: where a feature view's history lives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from skewless.definitions._names import check_identifier, check_tags
from skewless.errors import DefinitionError

__all__ = ["FileSource"]

FileFormat = Literal["parquet", "csv"]


@dataclass(frozen=True, init=False)
class FileSource:
    """Parquet or CSV files: one file, a directory of files or a glob.

    A relative ``path`` is resolved against the repository directory.

    Example:
        >>> src = FileSource(path="data/user_stats.parquet", timestamp_field="event_timestamp")
        >>> src.file_format
        'parquet'
    """

    path: str
    timestamp_field: str
    created_timestamp_column: str = ""
    field_mapping: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    file_format: FileFormat = "parquet"
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""

    def __init__(
        self,
        *,
        path: str,
        timestamp_field: str = "event_timestamp",
        created_timestamp_column: str = "",
        field_mapping: Mapping[str, str] | None = None,
        name: str = "",
        file_format: FileFormat | Any | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
    ) -> None:
        if not isinstance(path, str) or not path.strip():
            raise DefinitionError("FileSource needs a path: path='data/my_features.parquet'")
        check_identifier(timestamp_field, "timestamp_field")
        if created_timestamp_column:
            check_identifier(created_timestamp_column, "created_timestamp_column")
            if created_timestamp_column == timestamp_field:
                raise DefinitionError(
                    f"created_timestamp_column and timestamp_field are both {timestamp_field!r}: "
                    "they must be different columns"
                )
        mapping = dict(field_mapping or {})
        for src, dst in mapping.items():
            if not isinstance(src, str) or not isinstance(dst, str):
                raise DefinitionError(
                    f"field_mapping must map source column names to names, got {src!r}: {dst!r}"
                )
            check_identifier(dst, "field_mapping target")
        if name:
            check_identifier(name, "source name")
        fmt = _file_format(path, file_format)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "timestamp_field", timestamp_field)
        object.__setattr__(self, "created_timestamp_column", created_timestamp_column or "")
        object.__setattr__(self, "field_mapping", mapping)
        object.__setattr__(self, "name", name or "")
        object.__setattr__(self, "file_format", fmt)
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, f"source {path!r}"))
        object.__setattr__(self, "owner", owner or "")

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": "file",
            "path": self.path,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_column": self.created_timestamp_column,
            "field_mapping": dict(sorted(self.field_mapping.items())),
            "name": self.name,
            "file_format": self.file_format,
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FileSource:
        return cls(**{k: v for k, v in spec.items() if k != "type"})


def _file_format(path: str, given: object) -> FileFormat:
    if given is None:
        return "csv" if path.lower().endswith((".csv", ".csv.gz")) else "parquet"
    text = str(getattr(given, "name", given)).lower()
    if "csv" in text:
        return "csv"
    if "parquet" in text:
        return "parquet"
    raise DefinitionError(f"file_format {given!r} is not supported: use 'parquet' or 'csv'")
