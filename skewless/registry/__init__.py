"""The registry: definitions, their version history, plans, and materialization watermarks."""

from skewless.registry.snapshot import RegistrySnapshot, data_version

__all__ = ["RegistrySnapshot", "data_version"]
