"""Push sources: a feature view fed by pushes, with its history in a batch source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from skewless.definitions._names import check_identifier, check_tags
from skewless.definitions.sources import FileFormat, FileSource
from skewless.errors import DefinitionError

__all__ = ["PushMode", "PushSource"]


class PushMode(StrEnum):
    """Where ``store.push(..., to=PushMode.ONLINE_AND_OFFLINE)`` writes (Feast's names)."""

    ONLINE = "online"
    OFFLINE = "offline"
    ONLINE_AND_OFFLINE = "online_and_offline"


@dataclass(frozen=True, init=False)
class PushSource:
    """Rows pushed by applications (``store.push``), with history in ``batch_source``.

    A feature view whose source is a ``PushSource`` reads its history from the batch source
    offline; pushes add rows online, offline (a new Parquet file in the batch source's
    directory) or both. For offline pushes the batch source must be a directory or a glob.

    The batch source's columns and options (``path``, ``timestamp_field``,
    ``created_timestamp_column``, ``field_mapping``, ``file_format``) are readable on the push
    source itself, so code that reads a view's source works for both kinds.

    Example:
        >>> history = FileSource(path="data/user_events/", timestamp_field="event_timestamp")
        >>> events = PushSource(name="user_events_push", batch_source=history)
        >>> events.path
        'data/user_events/'
    """

    name: str
    batch_source: FileSource
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""

    # Subclasses stored under a spec ``type`` of their own register it (``class
    # KafkaSource(PushSource, spec_type="kafka")``), so :func:`source_from_spec` rebuilds them
    # without this module importing its subclasses.
    _subclass_by_spec_type: ClassVar[dict[str, type[PushSource]]] = {}

    def __init_subclass__(cls, spec_type: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if spec_type is not None:
            PushSource._subclass_by_spec_type[spec_type] = cls

    def __init__(
        self,
        *,
        name: str,
        batch_source: FileSource,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
    ) -> None:
        check_identifier(name, "push source name")
        if not isinstance(batch_source, FileSource):
            raise DefinitionError(
                f"push source {name!r}: batch_source must be a FileSource holding the history, "
                f"got {batch_source!r}"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "batch_source", batch_source)
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, f"push source {name!r}"))
        object.__setattr__(self, "owner", owner or "")

    # -- the batch source's reading options ---------------------------------------------
    @property
    def path(self) -> str:
        return self.batch_source.path

    @property
    def timestamp_field(self) -> str:
        return self.batch_source.timestamp_field

    @property
    def created_timestamp_column(self) -> str:
        return self.batch_source.created_timestamp_column

    @property
    def field_mapping(self) -> Mapping[str, str]:
        return self.batch_source.field_mapping

    @property
    def file_format(self) -> FileFormat:
        return self.batch_source.file_format

    # -- serialization -------------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        return {
            "type": "push",
            "name": self.name,
            "batch_source": self.batch_source.to_spec(),
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> PushSource:
        return cls(
            name=spec["name"],
            batch_source=FileSource.from_spec(spec["batch_source"]),
            description=spec.get("description", ""),
            tags=spec.get("tags") or {},
            owner=spec.get("owner", ""),
        )


def source_from_spec(spec: Mapping[str, Any]) -> FileSource | PushSource:
    """Rebuild a view's source from its spec (``type`` is ``file``, ``push`` or ``kafka``)."""
    kind = spec.get("type")
    if kind == "push":
        return PushSource.from_spec(spec)
    subclass = PushSource._subclass_by_spec_type.get(kind) if isinstance(kind, str) else None
    if subclass is not None:
        return subclass.from_spec(spec)
    return FileSource.from_spec(spec)
