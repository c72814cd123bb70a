"""The HTTP feature server runs on-demand views it read from the registry."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from odfv_repo import SAMPLE, T0, write_stats

from skewless import FeatureStore
from skewless.repo import load_repo_objects

httpx = pytest.importorskip("httpx")

FEATURES_PY = """
from datetime import timedelta

import pandas as pd

from skewless import Entity, FeatureView, Field, FileSource, RequestSource
from skewless import on_demand_feature_view
from skewless.types import Float64, Int64, String

from helpers import scale

user = Entity(name="user", join_keys=["user_id"])
stats = FeatureView(
    name="stats",
    entities=[user],
    schema=[Field(name="spend", dtype=Float64), Field(name="orders", dtype=Int64),
            Field(name="tier", dtype=String)],
    source=FileSource(path="data/stats.parquet"),
)
req = RequestSource(name="req", schema=[Field(name="amount", dtype=Float64)])


@on_demand_feature_view(sources=[stats[["spend"]], req],
                        schema=[Field(name="scaled", dtype=Float64)], mode="python")
def scaled(inputs):
    return {"scaled": [None if s is None or a is None else scale(s) * a
                       for s, a in zip(inputs["spend"], inputs["amount"])]}


@on_demand_feature_view(sources=[stats[["orders"]], req],
                        schema=[Field(name="per_order", dtype=Float64)], mode="pandas")
def per_order(df):
    return pd.DataFrame({"per_order": df["amount"] / df["orders"].where(df["orders"] != 0)})
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_stats(tmp_path, SAMPLE)
    (tmp_path / "feature_store.yaml").write_text(
        "project: odfv_served\nregistry: data/registry.db\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
    )
    (tmp_path / "helpers.py").write_text("def scale(value):\n    return value * 2\n")
    (tmp_path / "features.py").write_text(textwrap.dedent(FEATURES_PY))
    with FeatureStore(tmp_path) as store:
        store.apply(load_repo_objects(tmp_path), partial=False)
        store.materialize(T0 - timedelta(days=3), T0)
    return tmp_path


@pytest.fixture
def server_url(repo: Path) -> Iterator[str]:
    port = _free_port()
    log = (repo / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "skewless.cli.main", "-r", str(repo), "serve", "--port",
         str(port), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, cwd="/",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, (repo / "server.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(15)
        log.close()


def test_server_answers_on_demand_features(repo: Path, server_url: str) -> None:
    body = {
        "features": ["scaled:scaled", "stats:tier", "per_order:per_order"],
        "entities": {"user_id": [1, 2, 3], "amount": [3.0, 1.0, 2.0]},
    }
    response = httpx.post(server_url + "/get-online-features", json=body, timeout=10)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["metadata"]["feature_names"] == ["user_id", "scaled", "tier", "per_order"]
    values = [r["values"] for r in payload["results"]]
    assert values == [[1, 2, 3], [120.0, 0.0, None], ["gold", None, None], [1.0, None, None]]
    with FeatureStore(repo) as store:
        local = store.get_online_features(body["features"], body["entities"]).to_dict()
    assert list(local.values()) == values
    missing = httpx.post(
        server_url + "/get-online-features",
        json={"features": ["scaled:scaled"], "entities": {"user_id": [1]}},
        timeout=10,
    )
    assert missing.status_code in (400, 422), missing.text
    assert "'amount'" in missing.json()["detail"]
