"""Fields: a named, typed column of a feature view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skewless._types import DType, dtype_from_name
from skewless.definitions._names import check_identifier, check_tags
from skewless.errors import DefinitionError

__all__ = ["Field", "check_fields"]


@dataclass(frozen=True, init=False)
class Field:
    """A feature (or join-key) column and its type.

    Example:
        >>> from skewless.types import Float32
        >>> Field(name="avg_purchase_amount", dtype=Float32).dtype
        Float32
    """

    name: str
    dtype: DType
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __init__(
        self,
        *,
        name: str,
        dtype: DType,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_identifier(name, "field name")
        if not isinstance(dtype, DType):
            raise DefinitionError(
                f"field {name!r} has dtype {dtype!r}: use a type from skewless.types, "
                "e.g. dtype=Int64"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, f"field {name!r}"))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "dtype": str(self.dtype)}
        if self.description:
            spec["description"] = self.description
        if self.tags:
            spec["tags"] = dict(sorted(self.tags.items()))
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Field:
        return cls(
            name=spec["name"],
            dtype=dtype_from_name(spec["dtype"]),
            description=spec.get("description", ""),
            tags=spec.get("tags"),
        )


def check_fields(schema: Sequence[Field] | None, what: str, noun: str) -> tuple[Field, ...]:
    """``schema`` as a tuple, checked to hold only ``Field``s with distinct names.

    ``what`` names the definition and ``noun`` its entries (``"field(s)"``, ``"output(s)"``)
    in error messages.
    """
    fields = tuple(schema or ())
    for f in fields:
        if not isinstance(f, Field):
            raise DefinitionError(f"{what}: schema entries must be Field(...), got {f!r}")
    names = [f.name for f in fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DefinitionError(f"{what} declares {noun} {dupes} twice: keep one of each")
    return fields
