"""skewless: define features once, train leak-free, serve the latest.

>>> from skewless import Entity
>>> Entity(name="user", join_keys=["user_id"]).join_keys
('user_id',)
"""

from typing import TYPE_CHECKING

from skewless._version import __version__ as __version__
from skewless.definitions import (
    Aggregation,
    BatchFeatureView,
    ConflictPolicy,
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    Field,
    FileSource,
    KafkaSource,
    LabelView,
    OnDemandFeatureView,
    Project,
    PushSource,
    RequestSource,
    StreamFeatureView,
    on_demand_feature_view,
)
from skewless.store import FeatureStore

if TYPE_CHECKING:
    from skewless.client import Client
    from skewless.prediction_client import PredictionClient

__all__ = [
    "Aggregation",
    "BatchFeatureView",
    "Client",
    "ConflictPolicy",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "FileSource",
    "KafkaSource",
    "LabelView",
    "OnDemandFeatureView",
    "PredictionClient",
    "Project",
    "PushSource",
    "RequestSource",
    "StreamFeatureView",
    "on_demand_feature_view",
]


def __getattr__(name: str) -> object:
    # The HTTP client needs the `server` extra (httpx); import it only when asked for.
    if name == "Client":
        from skewless.client import Client

        return Client
    if name == "PredictionClient":
        from skewless.prediction_client import PredictionClient

        return PredictionClient
    raise AttributeError(f"module 'skewless' has no attribute {name!r}")
