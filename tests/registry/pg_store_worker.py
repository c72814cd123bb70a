"""A second FeatureStore process for the end-to-end PostgreSQL registry test.

Usage: ``python pg_store_worker.py REPO``. Prints ``ready VERSION``, polls the registry
version until another process applies, prints ``saw VERSION VIEWS SECONDS`` (how long after
the change it noticed), applies its own view and prints ``applied VERSION``.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless.types import Float64, Int64

POLL_SECONDS = 0.05
WAIT_SECONDS = 60.0

USER = Entity(name="user", join_keys=["user_id"])


def stats_view(name: str = "user_stats", ttl_days: int = 30) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[USER],
        ttl=timedelta(days=ttl_days),
        schema=[Field(name="total", dtype=Int64), Field(name="amount", dtype=Float64)],
        source=FileSource(path="data/stats.parquet", timestamp_field="event_timestamp"),
    )


def main(repo: str) -> None:
    store = FeatureStore(repo)
    start = store.registry.version()
    print(f"ready {start}", flush=True)
    deadline = time.monotonic() + WAIT_SECONDS
    while (now := store.registry.version()) == start:
        if time.monotonic() > deadline:
            print("timeout", flush=True)
            return
        time.sleep(POLL_SECONDS)
    seen = time.time()
    store.refresh_registry()
    views = ",".join(sorted(view.name for view in store.list_feature_views()))
    print(f"saw {now} {views} {seen:.6f}", flush=True)
    store.apply([USER, stats_view("from_worker", 7)])
    print(f"applied {store.registry.version()}", flush=True)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1])
