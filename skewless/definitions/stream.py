"""Stream sources and stream feature views, in Feast's shape.

A ``KafkaSource`` is a push source that names the topic its rows come from: its history is
its ``batch_source``, pushes (``store.push`` or ``skewless ingest``) write to it, and a
``StreamFeatureView`` over it is a feature view fed by those pushes. Stream transformations
(``udf``) are not run: rows are stored as they arrive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from skewless.definitions._names import warn_not_applied
from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.field import Field
from skewless.definitions.push_source import PushSource
from skewless.definitions.sources import FileSource
from skewless.errors import DefinitionError

__all__ = ["KafkaSource", "StreamFeatureView"]


class KafkaSource(PushSource, spec_type="kafka"):
    """Rows from a Kafka topic, with history in ``batch_source`` (required here).

    Example:
        >>> history = FileSource(path="data/driver_stats.parquet")
        >>> source = KafkaSource(name="driver_stream", timestamp_field="event_timestamp",
        ...     bootstrap_servers="localhost:9092", topic="drivers", message_format="json",
        ...     batch_source=history)
        >>> source.topic
        'drivers'
    """

    bootstrap_servers: str
    topic: str
    message_format: str

    def __init__(
        self,
        *,
        name: str,
        timestamp_field: str = "",
        message_format: object = "json",
        bootstrap_servers: str | None = None,
        kafka_bootstrap_servers: str | None = None,
        topic: str | None = None,
        created_timestamp_column: str = "",
        field_mapping: Mapping[str, str] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        batch_source: FileSource | None = None,
        watermark_delay_threshold: timedelta | None = None,
    ) -> None:
        if batch_source is None:
            raise DefinitionError(
                f"Kafka source {name!r} has no batch_source: skewless reads a stream's history "
                "from files; pass batch_source=FileSource(path=...)"
            )
        servers = bootstrap_servers or kafka_bootstrap_servers or ""
        if not servers or not topic:
            raise DefinitionError(
                f"Kafka source {name!r} needs bootstrap_servers='host:9092' and topic='...'"
            )
        for given, own, what in (
            (timestamp_field, batch_source.timestamp_field, "timestamp_field"),
            (created_timestamp_column, batch_source.created_timestamp_column, "created column"),
        ):
            if given and given != own:
                raise DefinitionError(
                    f"Kafka source {name!r}: its {what} {given!r} differs from its batch "
                    f"source's {own!r}: use one column name for both"
                )
        if field_mapping and dict(field_mapping) != dict(batch_source.field_mapping):
            raise DefinitionError(
                f"Kafka source {name!r}: set field_mapping on its batch_source instead"
            )
        super().__init__(
            name=name, batch_source=batch_source, description=description, tags=tags, owner=owner
        )
        fmt = getattr(message_format, "name", None) or type(message_format).__name__
        if isinstance(message_format, str):
            fmt = message_format
        object.__setattr__(self, "bootstrap_servers", servers)
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "message_format", str(fmt).lower())

    def to_spec(self) -> dict[str, Any]:
        return {
            **super().to_spec(),
            "type": "kafka",
            "bootstrap_servers": self.bootstrap_servers,
            "topic": self.topic,
            "message_format": self.message_format,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> KafkaSource:
        return cls(
            name=spec["name"],
            batch_source=FileSource.from_spec(spec["batch_source"]),
            bootstrap_servers=spec["bootstrap_servers"],
            topic=spec["topic"],
            message_format=spec.get("message_format", "json"),
            description=spec.get("description", ""),
            tags=spec.get("tags") or {},
            owner=spec.get("owner", ""),
        )


class StreamFeatureView(FeatureView):
    """A feature view fed by a stream source (Feast's ``StreamFeatureView``).

    Rows pushed to its source (``store.push``, ``skewless ingest``) are stored as they come;
    a ``udf`` is accepted with a warning and not run. Window aggregations over a stream are a
    ``BatchFeatureView`` over a ``PushSource`` (docs/windows.md).
    """

    def __init__(
        self,
        *,
        name: str,
        source: PushSource | FileSource,
        entities: Sequence[Entity] | None = None,
        ttl: timedelta | None = None,
        tags: Mapping[str, str] | None = None,
        online: bool = True,
        offline: bool = False,
        description: str = "",
        owner: str = "",
        schema: Sequence[Field] | None = None,
        aggregations: Sequence[Any] | None = None,
        mode: object = "python",
        timestamp_field: str = "",
        udf: Any = None,
        **feast_options: Any,
    ) -> None:
        if aggregations:
            raise DefinitionError(
                f"stream feature view {name!r}: aggregations are defined with "
                "BatchFeatureView(source=PushSource(...), aggregations=[...]) in skewless "
                "(docs/windows.md)"
            )
        if udf is not None:
            warn_not_applied(
                f"stream feature view {name!r}: udf", "pushed rows are stored as they come"
            )
        super().__init__(
            name=name,
            source=source,
            schema=schema or (),
            entities=entities,
            ttl=ttl,
            online=online,
            tags=tags,
            owner=owner,
            description=description,
        )
