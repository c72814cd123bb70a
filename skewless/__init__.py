"""skewless: define features once, train leak-free, serve the latest.

>>> from skewless import Entity
>>> Entity(name="user", join_keys=["user_id"]).join_keys
('user_id',)
"""

from skewless.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    Field,
    FileSource,
)
from skewless.store import FeatureStore

__all__ = [
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "FileSource",
]

__version__ = "0.1.0"
