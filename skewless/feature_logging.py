"""Feast's ``feast.feature_logging`` module path (``LoggingConfig``, accepted, not performed)."""

from skewless.definitions import LoggingConfig

__all__ = ["LoggingConfig"]
