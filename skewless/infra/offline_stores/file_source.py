"""Feast's ``feast.infra.offline_stores.file_source`` module path."""

from skewless.definitions import FileLoggingDestination, FileSource

__all__ = ["FileLoggingDestination", "FileSource"]
