"""Definitions in the shape of Feast's local template, written with Feast's API and the
imports changed from ``feast`` to ``skewless``."""

from datetime import timedelta

import pandas as pd

from skewless import (
    ConflictPolicy,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    KafkaSource,
    LabelView,
    Project,
    PushSource,
    RequestSource,
    StreamFeatureView,
)
from skewless.data_source import PushMode  # noqa: F401  (the module path Feast users import)
from skewless.feature_logging import LoggingConfig
from skewless.infra.offline_stores.file_source import FileLoggingDestination
from skewless.on_demand_feature_view import on_demand_feature_view
from skewless.types import Float32, Float64, Int64, Json, Map, String, Struct

project = Project(name="fleet", description="vehicle statistics")
vehicle = Entity(name="vehicle", join_keys=["vehicle_id"])
stats_source = FileSource(
    name="vehicle_stats_source",
    path="data/vehicle_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)
SCHEMA = [
    Field(name="fuel_rate", dtype=Float32),
    Field(name="load_rate", dtype=Float32),
    Field(name="trips", dtype=Int64, description="trips per day"),
    Field(name="specs", dtype=Map),
    Field(name="settings", dtype=Json),
    Field(name="owner_card", dtype=Struct({"name": String, "since": String})),
]
stats_view = FeatureView(
    name="vehicle_stats",
    entities=[vehicle],
    ttl=timedelta(days=1),
    schema=SCHEMA,
    online=True,
    source=stats_source,
    tags={"team": "fleet"},
    enable_validation=True,
    version="latest",
)
extra = RequestSource(
    name="extra", schema=[Field(name="bonus", dtype=Int64), Field(name="bonus_2", dtype=Int64)]
)


@on_demand_feature_view(
    sources=[stats_view, extra],
    schema=[Field(name="fuel_plus", dtype=Float64), Field(name="fuel_plus_2", dtype=Float64)],
    write_to_online_store=True,
)
def fuel_adjusted(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    out["fuel_plus"] = inputs["fuel_rate"] + inputs["bonus"]
    out["fuel_plus_2"] = inputs["fuel_rate"] + inputs["bonus_2"]
    return out


fleet_v1 = FeatureService(
    name="fleet_v1",
    features=[stats_view[["fuel_rate"]], fuel_adjusted],
    logging_config=LoggingConfig(destination=FileLoggingDestination(path="data")),
)
fleet_v2 = FeatureService(name="fleet_v2", features=[stats_view, fuel_adjusted])
stats_push = PushSource(name="vehicle_stats_push", batch_source=stats_source)
fresh_view = FeatureView(
    name="vehicle_stats_fresh",
    entities=[vehicle],
    ttl=timedelta(days=1),
    schema=SCHEMA,
    source=stats_push,
    version="latest",
)


@on_demand_feature_view(
    sources=[fresh_view, extra],
    schema=[Field(name="fuel_plus", dtype=Float64), Field(name="fuel_plus_2", dtype=Float64)],
)
def fuel_adjusted_fresh(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    out["fuel_plus"] = inputs["fuel_rate"] + inputs["bonus"]
    out["fuel_plus_2"] = inputs["fuel_rate"] + inputs["bonus_2"]
    return out


fleet_v3 = FeatureService(name="fleet_v3", features=[fresh_view, fuel_adjusted_fresh])
labels = LabelView(
    name="vehicle_labels",
    entities=[vehicle],
    schema=[
        Field(name="is_sound", dtype=Int64),
        Field(name="labeler", dtype=String),
    ],
    source=PushSource(
        name="vehicle_labels_push",
        batch_source=FileSource(
            path="data/vehicle_labels.parquet", timestamp_field="event_timestamp"
        ),
    ),
    labeler_field="labeler",
    conflict_policy=ConflictPolicy.LAST_WRITE_WINS,
    tags={"labeling-method": "table"},
)
stream = KafkaSource(
    name="vehicle_stream",
    timestamp_field="event_timestamp",
    bootstrap_servers="localhost:9092",
    topic="vehicles",
    message_format="json",
    batch_source=FileSource(path="data/vehicle_stream/", timestamp_field="event_timestamp"),
)
stream_view = StreamFeatureView(
    name="vehicle_stream_stats",
    entities=[vehicle],
    ttl=timedelta(days=1),
    schema=[Field(name="speed", dtype=Float32)],
    source=stream,
)
