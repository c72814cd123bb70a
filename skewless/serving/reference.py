"""Naming the model to serve: ``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME VERSION``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from skewless.errors import UnknownModelError

__all__ = ["DEFAULT_ALIAS", "ModelRef", "parse_model_ref"]

DEFAULT_ALIAS = "production"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")


@dataclass(frozen=True)
class ModelRef:
    """A registered model and which of its versions: a number, or an alias that may move.

    >>> parse_model_ref("churn@staging")
    ModelRef(name='churn', version='staging')
    >>> parse_model_ref("churn/3").is_alias, str(parse_model_ref("churn"))
    (False, 'churn@production')
    """

    name: str
    version: str

    @property
    def is_alias(self) -> bool:
        """Whether the version is an alias (followed when it moves) rather than a number."""
        return not self.version.isdigit()

    def __str__(self) -> str:
        return f"{self.name}/{self.version}" if not self.is_alias else f"{self.name}@{self.version}"


def parse_model_ref(text: str, version: str | int | None = None) -> ModelRef:
    """``NAME@ALIAS``, ``NAME/VERSION``, ``NAME`` (alias ``production``), or ``NAME`` with
    ``version`` given apart (``skewless models serve churn 3``, as ``models promote``).

    Raises:
        UnknownModelError: the text names no model, or names the version twice.
    """
    raw = str(text).strip()
    name, at, alias = raw.partition("@")
    if at and not alias.strip():
        raise UnknownModelError(
            f"model reference {text!r} has nothing after '@': write NAME@ALIAS, e.g. "
            "churn@production"
        )
    if not at:
        name, slash, number = raw.partition("/")
        alias = number if slash else ""
        if slash and not number.strip().isdigit():
            raise UnknownModelError(
                f"model reference {text!r}: the part after '/' must be a version number "
                "(write NAME@ALIAS for an alias)"
            )
    name, alias = name.strip(), alias.strip()
    if not _NAME.fullmatch(name):
        raise UnknownModelError(
            f"model reference {text!r} names no model: write NAME, NAME@ALIAS or NAME/VERSION "
            "(e.g. churn@production, churn/3)"
        )
    if version is not None and str(version).strip():
        if alias:
            raise UnknownModelError(
                f"model reference {text!r} already names a version: give either "
                f"{text} or {name} {version}"
            )
        alias = str(version).strip()
    alias = (alias or DEFAULT_ALIAS).lower() if not alias.isdigit() else str(int(alias))
    if not alias.isdigit() and not _ALIAS.fullmatch(alias):
        raise UnknownModelError(
            f"model reference {text!r}: {alias!r} is neither a version number nor an alias"
        )
    return ModelRef(name, alias)
