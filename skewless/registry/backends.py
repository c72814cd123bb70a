"""Which registry backend a configuration names."""

from __future__ import annotations

from skewless.config import RepoConfig
from skewless.errors import RegistryError
from skewless.registry.core import Registry
from skewless.registry.postgres import PostgresRegistry, is_postgres_url, mask_url
from skewless.registry.sqlite import SqliteRegistry

__all__ = ["open_registry", "registry_class"]


def registry_class(config: RepoConfig) -> type[Registry]:
    """The backend class for ``config.registry``.

    A ``postgresql://`` (or ``postgres://``) path is PostgreSQL whatever the
    ``registry_type``; any other path is a SQLite file (``registry_type: sql`` also accepts a
    ``sqlite:///path`` URL).

    Raises:
        RegistryError: ``registry_type: sql`` with a path that is not a database URL.
    """
    registry = config.registry
    if is_postgres_url(registry.path):
        return PostgresRegistry
    if registry.registry_type == "sql" and not registry.path.startswith("sqlite:///"):
        raise RegistryError(
            f"registry_type: sql needs a database URL as path, not {mask_url(registry.path)!r}: "
            "use postgresql://user:password@host:port/database, or registry_type: file "
            "for a SQLite file"
        )
    return SqliteRegistry


def open_registry(config: RepoConfig) -> Registry:
    """The registry ``config`` names (the same as ``Registry(config)``)."""
    return registry_class(config)(config)


Registry.backend_for = registry_class
