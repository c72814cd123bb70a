"""Feast's ``Project`` and feature-service logging options, accepted in definitions.

skewless keeps one project per repository, named by ``feature_store.yaml``; a ``Project``
object in the repository's files is read for its name only. Feature logging
(``LoggingConfig``) is accepted on feature services and not performed: the prediction server
keeps its own feature and prediction logs (docs/serving.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from skewless.definitions._names import check_identifier, check_tags, warn_not_applied

__all__ = ["FileLoggingDestination", "LoggingConfig", "Project"]


@dataclass(frozen=True, init=False)
class Project:
    """The repository's project (Feast's ``Project``). Accepted in definitions; the project
    a store uses is the ``project:`` of ``feature_store.yaml``.

    >>> Project(name="demo", description="driver statistics").name
    'demo'
    """

    name: str
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
    ) -> None:
        check_identifier(name, "project name")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, f"project {name!r}"))
        object.__setattr__(self, "owner", owner or "")


@dataclass(frozen=True)
class FileLoggingDestination:
    """Where Feast writes a feature service's logs (a directory of Parquet files)."""

    path: str
    join_key_mapping: Mapping[str, str] | None = None


@dataclass(frozen=True)
class LoggingConfig:
    """Feast's feature-service logging: accepted, with a warning, and not performed."""

    destination: object
    sample_rate: float = 1.0

    def __post_init__(self) -> None:
        warn_not_applied(
            "FeatureService(logging_config=...)",
            "the prediction server logs features and predictions (docs/serving.md)",
            stacklevel=4,
        )
