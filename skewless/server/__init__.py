"""The HTTP feature server: Feast's ``/get-online-features`` and ``/push`` over a FeatureStore.

>>> from skewless.server import ServerSettings
>>> ServerSettings().max_body_bytes
8388608
"""

from skewless.server.app import create_app
from skewless.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
