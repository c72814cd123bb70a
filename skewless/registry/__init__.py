"""The registry: definitions, their version history, plans, and materialization watermarks."""

from skewless.registry.records import (
    ObjectChange,
    ObjectRecord,
    ObjectVersion,
    Watermark,
)
from skewless.registry.snapshot import RegistrySnapshot, data_version
from skewless.registry.sqlite import Registry

__all__ = [
    "ObjectChange",
    "ObjectRecord",
    "ObjectVersion",
    "Registry",
    "RegistrySnapshot",
    "Watermark",
    "data_version",
]
