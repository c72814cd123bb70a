"""Label views: human labels of entities, pushed and read like features (Feast's shape)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import Enum

from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.field import Field
from skewless.definitions.push_source import PushSource
from skewless.definitions.sources import FileSource
from skewless.errors import DefinitionError

__all__ = ["ConflictPolicy", "LabelView"]


class ConflictPolicy(Enum):
    """How labels of one key from several labelers resolve (Feast's names).

    skewless applies ``LAST_WRITE_WINS`` offline and online: the label with the latest event
    time (then created time) wins, as for every feature (docs/semantics.md "Which row wins").
    """

    LAST_WRITE_WINS = "last_write_wins"
    LABELER_PRIORITY = "labeler_priority"
    MAJORITY_VOTE = "majority_vote"


class LabelView(FeatureView):
    """A feature view of labels, usually fed by a push source (Feast's ``LabelView``).

    It is stored, read, pushed and listed as a feature view. ``labeler_field`` names the
    column holding who labelled a row; only ``ConflictPolicy.LAST_WRITE_WINS`` is supported.
    A ``ttl`` of zero or None (the default) means labels never expire.
    """

    labeler_field: str
    conflict_policy: ConflictPolicy
    reference_feature_view: str | None

    def __init__(
        self,
        *,
        name: str,
        source: FileSource | PushSource,
        schema: Sequence[Field],
        entities: Sequence[Entity] | None = None,
        ttl: timedelta | None = None,
        online: bool = True,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        labeler_field: str = "labeler",
        conflict_policy: ConflictPolicy = ConflictPolicy.LAST_WRITE_WINS,
        reference_feature_view: str | None = None,
    ) -> None:
        if conflict_policy is not ConflictPolicy.LAST_WRITE_WINS:
            raise DefinitionError(
                f"label view {name!r}: conflict_policy={conflict_policy} is not supported; "
                "skewless resolves labels by ConflictPolicy.LAST_WRITE_WINS only"
            )
        super().__init__(
            name=name,
            source=source,
            schema=schema,
            entities=entities,
            ttl=ttl,
            online=online,
            description=description,
            tags=tags,
            owner=owner,
        )
        if labeler_field and labeler_field not in {f.name for f in self.schema}:
            raise DefinitionError(
                f"label view {name!r}: labeler_field {labeler_field!r} is not in its schema: "
                f"add Field(name={labeler_field!r}, dtype=String)"
            )
        object.__setattr__(self, "labeler_field", labeler_field)
        object.__setattr__(self, "conflict_policy", conflict_policy)
        object.__setattr__(self, "reference_feature_view", reference_feature_view)
