"""Batched reads answer every request as if it came alone, on the event loop or offloaded."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from feature_server import N_USERS

from skewless.server.app import create_app
from skewless.server.settings import ServerSettings
from skewless.store import FeatureStore


def _bodies() -> list[dict[str, Any]]:
    rng = random.Random(11)
    features = [f"user_stats:{f}" for f in ("purchases", "amount", "category", "active")]
    bodies: list[dict[str, Any]] = []
    for i in range(90):
        users = [rng.randrange(1, N_USERS + 20) for _ in range(rng.randrange(0, 4))]
        if i % 9 == 8:
            bodies.append({"features": ["user_stats:nope"], "entities": {"user_id": users}})
        elif i % 9 == 7:
            bodies.append({"features": features[:2], "entities": {"customer": users}})
        elif i % 3 == 0:
            bodies.append({"feature_service": "shop_v1", "entities": {"user_id": users}})
        else:
            bodies.append(
                {
                    "features": features[: 1 + i % 4],
                    "entities": {"user_id": users},
                    "full_feature_names": i % 4 == 1,
                }
            )
    return bodies


@pytest.mark.parametrize("offload", [False, True], ids=["event-loop", "worker-thread"])
def test_concurrent_reads_share_store_calls_and_match_single_reads(
    served_repo: Path, offload: bool
) -> None:
    bodies = _bodies()
    with FeatureStore(served_repo) as store:
        app = create_app(store, ServerSettings(offload_reads=offload))
        reads = app.state.server.reads

        async def run() -> tuple[list[httpx.Response], list[httpx.Response], int]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                alone = [await client.post("/get-online-features", json=b) for b in bodies]
                before = reads.calls
                together = await asyncio.gather(
                    *(client.post("/get-online-features", json=b) for b in bodies)
                )
                return alone, list(together), reads.calls - before

        try:
            alone, together, calls = asyncio.run(run())
        finally:
            reads.close()
    assert {r.status_code for r in alone} == {200, 404, 422}
    for body, one, both in zip(bodies, alone, together, strict=True):
        assert (both.status_code, both.json()) == (one.status_code, one.json()), body
    assert calls < len(bodies) / 2  # answered in batches, not one store call each
