"""Entities: the keys features are about (a user, a product)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skewless._types import DType, dtype_from_name
from skewless.definitions._names import check_identifier, check_tags
from skewless.errors import DefinitionError

__all__ = ["Entity"]


@dataclass(frozen=True, init=False)
class Entity:
    """An entity and its join keys.

    Example:
        >>> user = Entity(name="user", join_keys=["user_id"], description="A customer")
        >>> user.join_keys
        ('user_id',)
    """

    name: str
    join_keys: tuple[str, ...]
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""
    value_type: DType | None = None

    def __init__(
        self,
        name: str,
        join_keys: Sequence[str] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        value_type: DType | None = None,
    ) -> None:
        check_identifier(name, "entity name")
        keys = tuple(join_keys) if join_keys else (name,)
        if isinstance(join_keys, str):
            raise DefinitionError(
                f"join_keys of entity {name!r} must be a list, e.g. join_keys=[{join_keys!r}]"
            )
        for key in keys:
            check_identifier(key, f"join key of entity {name!r}")
        if len(set(keys)) != len(keys):
            raise DefinitionError(f"entity {name!r} lists a join key twice: {list(keys)}")
        if value_type is not None and not isinstance(value_type, DType):
            value_type = None  # Feast's ValueType enum: accepted, the source decides the type
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, f"entity {name!r}"))
        object.__setattr__(self, "owner", owner or "")
        object.__setattr__(self, "value_type", value_type)

    @property
    def join_key(self) -> str:
        """The single join key (Feast's attribute); compound entities use ``join_keys``."""
        return self.join_keys[0]

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": list(self.join_keys),
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
            "value_type": str(self.value_type) if self.value_type else None,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Entity:
        vt = spec.get("value_type")
        return cls(
            name=spec["name"],
            join_keys=spec["join_keys"],
            description=spec.get("description", ""),
            tags=spec.get("tags") or {},
            owner=spec.get("owner", ""),
            value_type=dtype_from_name(vt) if vt else None,
        )
