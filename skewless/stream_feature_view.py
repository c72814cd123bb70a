"""Feast's ``feast.stream_feature_view`` module path."""

from skewless.definitions import StreamFeatureView

__all__ = ["StreamFeatureView"]
