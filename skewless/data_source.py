"""Feast's ``feast.data_source`` module path: the source definitions and ``PushMode``."""

from skewless.definitions import FileSource, KafkaSource, PushMode, PushSource, RequestSource

__all__ = ["FileSource", "KafkaSource", "PushMode", "PushSource", "RequestSource"]
