"""HTTP feature server: ``POST /get-online-features`` under wrk, next to a bare endpoint.

The server is ``skewless serve``'s application under uvicorn (one worker, uvloop and
httptools), over a repository of USERS users x 6 features materialized from the benchmark
data of ``bench/materialize.py``, with the SQLite online store and, when the Redis store is
available, with Redis (a ``redis-server`` started here on a free loopback port). Each request
reads 1 random user x 6 features. The floor, measured against the same server process in the
same run, is a bare endpoint of the same ASGI stack (Starlette route, middleware, uvicorn)
that reads the same request body and answers a constant JSON.

wrk runs on the same 2 cores as the server, so both figures include the load generator's
share of the CPU. The "server CPU" column is the server process's CPU time (user + system,
from ``/proc``) per answered request during the row: unlike latency and requests/s it moves
little when other jobs share the machine.

Run: ``.venv/bin/python bench/serve.py`` (``--users 100000 --seconds 10``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import orjson

BENCH = Path(__file__).resolve().parent
FEATURES = [
    "user_stats:total_purchases",
    "user_stats:avg_purchase_amount",
    "user_stats:days_since_last_login",
    "user_stats:preferred_category",
    "user_stats:session_minutes",
    "user_stats:churn_score",
]
BARE_BODY = orjson.dumps({"status": "ok", "values": [1, 2, 3]})

LUA = """
local first, users = %(first)d, %(users)d
local head = '{"features":%(features)s,"entities":{"user_id":['
local headers = {["Content-Type"] = "application/json"}
math.randomseed(7)
request = function()
  local body = head .. (first + math.random(0, users - 1)) .. ']}}'
  return wrk.format("POST", "%(path)s", headers, body)
end
"""


def bench_app():  # type: ignore[no-untyped-def]
    """The server's application plus ``POST /bare`` (uvicorn factory, in the server process)."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from skewless.server.factory import app_from_env

    app = app_from_env()

    async def bare(request: Request) -> Response:
        await request.body()
        return Response(BARE_BODY, media_type="application/json")

    app.router.routes.append(Route("/bare", bare, methods=["POST"]))
    return app


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (None where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    url: str, path: str, connections: int, args: argparse.Namespace, pid: int
) -> dict[str, float]:
    """wrk's figures for ``path``, plus the server's CPU microseconds per request."""
    before = cpu_seconds(pid)
    out = wrk(url, path, connections, args.seconds, args.users)
    after = cpu_seconds(pid)
    if before is not None and after is not None and out["rps"]:
        out["cpu_us"] = (after - before) / (out["rps"] * args.seconds) * 1e6
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def make_repo(root: Path, online_yaml: str, users: int, days: int) -> None:
    """A repository on disk (the server reads feature_store.yaml), applied and materialized."""
    sys.path.insert(0, str(BENCH))
    from _data import START
    from materialize import USER, ensure_source, feature_view

    from skewless.store import FeatureStore

    source = ensure_source(users, days)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "feature_store.yaml").write_text(
        f"project: bench\nregistry: registry.db\nonline_store:\n{online_yaml}"
    )
    with FeatureStore(root) as store:
        store.apply([USER, feature_view(source)])
        store.materialize(START - timedelta(days=1), START + timedelta(days=days))
        check = store.get_online_features(FEATURES, [{"user_id": 1001}])
        assert set(check.statuses["total_purchases"]) == {"PRESENT"}, check.statuses


def wrk(url: str, path: str, connections: int, seconds: int, users: int) -> dict[str, float]:
    script = LUA % {
        "first": 1001,
        "users": users,
        "features": orjson.dumps(FEATURES).decode(),
        "path": path,
    }
    return run_wrk(url, script, connections, seconds)


def run_wrk(
    url: str, script: str, connections: int, seconds: int, timeout_s: int | None = None
) -> dict[str, float]:
    """wrk's p50 and p99 (ms) and requests/s for the Lua ``script``, one thread; exits on
    a non-2xx answer or a socket error (a request over ``timeout_s``, wrk's 2 s by default,
    is one)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                *([f"--timeout={timeout_s}s"] if timeout_s else []),
                "-s",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(file.name)
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")

    def latency(q: str) -> float:
        match = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    return {"p50": latency("50"), "p99": latency("99"), "rps": float(rps.group(1))}


def run_backend(name: str, repo: Path, args: argparse.Namespace) -> list[tuple[str, ...]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SKEWLESS_SERVER_REPO": str(repo)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "serve:bench_app",
            "--app-dir",
            str(BENCH),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        env=env,
    )
    rows = []
    try:
        wait_for(url + "/health", server)
        wrk(url, "/get-online-features", 16, 2, args.users)  # warm up
        wrk(url, "/bare", 16, 2, args.users)
        for connections in (1, 16):
            bare = measured(url, "/bare", connections, args, server.pid)
            ours = measured(url, "/get-online-features", connections, args, server.pid)
            for label, r in ((f"{name}: get-online-features", ours), ("bare endpoint", bare)):
                rows.append(
                    (
                        label,
                        str(connections),
                        f"{r['p50']:.2f}",
                        f"{r['p99']:.2f}",
                        f"{r['rps']:,.0f}",
                        f"{ours['rps'] / bare['rps']:.0%}" if r is ours else "",
                        f"{r['cpu_us']:.0f}" if "cpu_us" in r else "",
                    )
                )
    finally:
        stop(server)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,redis")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    work = BENCH / "data" / "serve"
    rows: list[tuple[str, ...]] = []
    backends = args.backends.split(",")
    if "sqlite" in backends:
        repo = work / "sqlite"
        make_repo(repo, "  type: sqlite\n  path: online.db\n", args.users, args.days)
        rows += run_backend("SQLite", repo, args)
    redis_available = (Path(__file__).parents[1] / "skewless/online/redis/store.py").exists()
    if "redis" in backends and redis_available and shutil.which("redis-server"):
        with redis_server() as address:
            repo = work / "redis"
            online = f'  type: redis\n  connection_string: "{address}"\n'
            make_repo(repo, online, args.users, args.days)
            rows += run_backend("Redis", repo, args)
    print(
        f"HTTP feature server, 1 worker, {args.users:,} users, 1 random entity x 6 features "
        f"per request, wrk {args.seconds} s per row (wrk shares the machine's "
        f"{os.cpu_count()} cores)"
    )
    header = ("", "connections", "p50 ms", "p99 ms", "requests/s", "vs bare", "server CPU us/req")
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("targets at 16 connections: p99 under 5 ms, requests/s at least 40% of the bare endpoint")


if __name__ == "__main__":
    main()
