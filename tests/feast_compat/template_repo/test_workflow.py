"""The template's workflow in Feast's shape: apply, retrieve, materialize, read online, push
with PushMode, tear down. Imported by the repository loader; runs only as a script."""

import json
import subprocess
from datetime import datetime

import pandas as pd

from skewless import FeatureStore
from skewless.data_source import PushMode

PUSHED = {
    "vehicle_id": [1001],
    "fuel_rate": [1.0],
    "load_rate": [1.0],
    "trips": [1000],
    "specs": [{"body": "truck", "rating": "5.0"}],
    "settings": [json.dumps({"max_km": 500, "zones": ["north"]})],
    "owner_card": [{"name": "owner_1001_updated", "since": "2030"}],
}


def run_demo() -> None:
    store = FeatureStore(repo_path=".")
    print("\n--- Run apply ---")
    subprocess.run(["skewless", "apply"], check=True)
    print("\n--- Historical features for training ---")
    historical(store, for_batch_scoring=False)
    print("\n--- Historical features for batch scoring ---")
    historical(store, for_batch_scoring=True)
    print("\n--- Load features into online store ---")
    store.materialize_incremental(end_date=datetime.now())
    print("\n--- Online features ---")
    online(store)
    print("\n--- Online features through a feature service ---")
    online(store, source="feature_service")
    print("\n--- Online features through the push-fed service ---")
    online(store, source="push")
    print("\n--- Push ---")
    event = pd.DataFrame(
        {**PUSHED, "event_timestamp": [datetime.now()], "created": [datetime.now()]}
    )
    store.push("vehicle_stats_push", event, to=PushMode.ONLINE_AND_OFFLINE)
    print("\n--- Online features after the push ---")
    online(store, source="push")
    print("\n--- Run teardown ---")
    subprocess.run(["skewless", "teardown"], check=True)


def historical(store: FeatureStore, for_batch_scoring: bool) -> None:
    entity_df = pd.DataFrame.from_dict(
        {
            "vehicle_id": [1001, 1002, 1003],
            "event_timestamp": [
                datetime(2021, 4, 12, 10, 59, 42),
                datetime(2021, 4, 12, 8, 12, 10),
                datetime(2021, 4, 12, 16, 40, 26),
            ],
            "label_satisfaction": [1, 5, 3],
            "bonus": [1, 2, 3],
            "bonus_2": [10, 20, 30],
        }
    )
    if for_batch_scoring:
        entity_df["event_timestamp"] = pd.to_datetime("now", utc=True)
    frame = store.get_historical_features(
        entity_df=entity_df,
        features=[
            "vehicle_stats:fuel_rate",
            "vehicle_stats:load_rate",
            "vehicle_stats:trips",
            "fuel_adjusted:fuel_plus",
            "fuel_adjusted:fuel_plus_2",
        ],
    ).to_df()
    print("HISTORICAL", json.dumps(frame.drop(columns=["event_timestamp"]).to_dict("list")))


def online(store: FeatureStore, source: str = "") -> None:
    entity_rows = [
        {"vehicle_id": 1001, "bonus": 1000, "bonus_2": 2000},
        {"vehicle_id": 1002, "bonus": 1001, "bonus_2": 2002},
    ]
    if source == "feature_service":
        features = store.get_feature_service("fleet_v1")
    elif source == "push":
        features = store.get_feature_service("fleet_v3")
    else:
        features = [
            "vehicle_stats:load_rate",
            "vehicle_stats:specs",
            "vehicle_stats:settings",
            "vehicle_stats:owner_card",
            "fuel_adjusted:fuel_plus",
            "fuel_adjusted:fuel_plus_2",
        ]
    values = store.get_online_features(features=features, entity_rows=entity_rows).to_dict()
    for key, value in sorted(values.items()):
        print(key, " : ", value)
    print("ONLINE", json.dumps(values))


if __name__ == "__main__":
    run_demo()
