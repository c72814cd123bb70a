"""Name checks shared by every definition."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

from skewless.errors import DefinitionError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(value: object, what: str) -> str:
    """Return ``value`` if it is a valid identifier, else raise a :class:`DefinitionError`."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise DefinitionError(
            f"{what} {value!r} is not a valid name: use letters, digits and underscores, "
            "not starting with a digit"
        )
    if "__" in value:
        raise DefinitionError(
            f"{what} {value!r} contains '__', which skewless reserves for full feature names "
            "(view__feature): rename it"
        )
    return value


def check_tags(tags: Mapping[str, str] | None, owner: str) -> dict[str, str]:
    """Validate tags (string to string) and return a plain dict copy."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise DefinitionError(
            f"tags of {owner} must be a dict of strings, got {type(tags).__name__}"
        )
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise DefinitionError(
                f"tags of {owner} must map strings to strings, got {key!r}: {value!r}"
            )
    return dict(tags)


def warn_not_applied(what: str, instead: str, stacklevel: int = 3) -> None:
    """Warn once per call site that a Feast option is accepted but has no effect here."""
    warnings.warn(
        f"{what} is accepted for compatibility with Feast but not applied by skewless: "
        f"{instead} (see docs/feast-differences.md)",
        UserWarning,
        stacklevel=stacklevel,
    )
