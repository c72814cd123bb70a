"""A real ``skewless serve`` process on a free loopback port, stopped by its pid; and a small
repository to serve (a materialized SQLite online store, a push-fed view)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from skewless.repo import load_repo_objects
from skewless.store import FeatureStore

__all__ = ["N_USERS", "T0", "ServerProcess", "add_view_definition", "free_port", "make_repo"]

N_USERS = 50
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)

FEATURES_PY = """\
from skewless import Entity, FeatureService, FeatureView, Field, FileSource, PushSource
from skewless.types import Bool, Float32, Float64, Int64, String

user = Entity(name="user", join_keys=["user_id"])

stats = FeatureView(
    name="user_stats",
    entities=[user],
    schema=[
        Field(name="purchases", dtype=Int64),
        Field(name="amount", dtype=Float64),
        Field(name="ratio", dtype=Float32),
        Field(name="category", dtype=String),
        Field(name="active", dtype=Bool),
        Field(name="logins", dtype=Int64),
    ],
    source=FileSource(path="data/stats.parquet", timestamp_field="event_timestamp"),
)

events_push = PushSource(
    name="events_push",
    batch_source=FileSource(path="data/events/", timestamp_field="event_timestamp"),
)

events = FeatureView(
    name="user_events",
    entities=[user],
    schema=[Field(name="clicks", dtype=Int64)],
    source=events_push,
)

shop_service = FeatureService(name="shop_v1", features=[stats])
"""

EXTRA_VIEW = """
extra = FeatureView(
    name="extra_stats",
    entities=[user],
    schema=[Field(name="purchases", dtype=Int64)],
    source=FileSource(path="data/stats.parquet", timestamp_field="event_timestamp"),
)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_repo(root: Path, online_store: str = "type: sqlite\n  path: data/online.db") -> Path:
    """Write, apply and materialize the test repository; user ``i`` has purchases ``i``;
    users with an odd id have a null category."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text(
        f"project: served\nregistry: data/registry.db\nonline_store:\n  {online_store}\n"
    )
    (root / "features.py").write_text(FEATURES_PY)
    data = root / "data"
    (data / "events").mkdir(parents=True)
    users = list(range(1, N_USERS + 1))
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(users, pa.int64()),
                "event_timestamp": pa.array([T0] * N_USERS, pa.timestamp("us", tz="UTC")),
                "purchases": pa.array(users, pa.int64()),
                "amount": pa.array([u * 1.5 for u in users], pa.float64()),
                "ratio": pa.array([u / 100 for u in users], pa.float32()),
                "category": pa.array([None if u % 2 else f"c{u}" for u in users], pa.string()),
                "active": pa.array([u % 3 == 0 for u in users], pa.bool_()),
                "logins": pa.array([u * 10 for u in users], pa.int64()),
            }
        ),
        data / "stats.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1], pa.int64()),
                "event_timestamp": pa.array([T0], pa.timestamp("us", tz="UTC")),
                "clicks": pa.array([0], pa.int64()),
            }
        ),
        data / "events" / "seed.parquet",
    )
    with FeatureStore(root) as store:
        store.apply(load_repo_objects(root), partial=False)
        store.materialize(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))
    return root


def add_view_definition(root: Path) -> None:
    (root / "features.py").write_text(FEATURES_PY + EXTRA_VIEW)


class ServerProcess:
    """``python -m skewless.cli.main -r REPO serve --port P`` until :meth:`stop`."""

    def __init__(self, repo: Path, *args: str, port: int | None = None) -> None:
        self.repo = repo
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = repo / f"server-{self.port}.log"
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "skewless.cli.main",
                "-r",
                str(repo),
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *args,
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.pid = self.process.pid
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log_file.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_concurrent_reads(server: ServerProcess, features: list[str]) -> None:
    """Concurrent reads (mixed features, entity counts and errors) get exactly the answers
    they get one at a time."""
    import asyncio
    import random

    rng = random.Random(3)
    bodies: list[dict[str, object]] = []
    for i in range(120):
        users = [rng.randrange(1, N_USERS + 20) for _ in range(rng.randrange(0, 4))]
        if i % 10 == 9:
            bodies.append({"features": ["user_stats:nope"], "entities": {"user_id": users}})
        elif i % 3 == 0:
            bodies.append({"feature_service": "shop_v1", "entities": {"user_id": users}})
        else:
            bodies.append({"features": features[: 1 + i % 5], "entities": {"user_id": users}})
    alone = [httpx.post(server.url + "/get-online-features", json=b, timeout=10) for b in bodies]

    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            return await asyncio.gather(
                *(client.post("/get-online-features", json=b) for b in bodies)
            )

    for one, both in zip(alone, asyncio.run(together()), strict=True):
        assert (both.status_code, both.json()) == (one.status_code, one.json())
