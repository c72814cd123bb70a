"""The registry: definitions, their version history, plans, and materialization watermarks.

``Registry(config)`` opens the backend ``config.registry`` names: a SQLite file (default) or
a PostgreSQL database (``registry_type: sql``, ``path: postgresql://...``).
"""

from skewless.registry.backends import open_registry, registry_class
from skewless.registry.core import Registry
from skewless.registry.postgres import PostgresRegistry
from skewless.registry.records import (
    ObjectChange,
    ObjectRecord,
    ObjectVersion,
    Watermark,
)
from skewless.registry.snapshot import RegistrySnapshot, data_version
from skewless.registry.sqlite import SqliteRegistry

__all__ = [
    "ObjectChange",
    "ObjectRecord",
    "ObjectVersion",
    "PostgresRegistry",
    "Registry",
    "RegistrySnapshot",
    "SqliteRegistry",
    "Watermark",
    "data_version",
    "open_registry",
    "registry_class",
]
