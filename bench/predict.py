"""Prediction server: ``POST /predict`` under wrk, next to a bare endpoint calling the same model.

The repository: USERS users x 5 numeric features of the benchmark data of
``bench/materialize.py`` (a feature service over the ``user_stats`` view), materialized into
the SQLite online store. A 100-tree ``HistGradientBoostingClassifier`` is trained on a sample
of TRAIN users (a saved training set), logged with ``skewless.models.log_model`` and promoted
to ``production`` in an MLflow SQLite database inside the repository (the bench's data dir).

The variants, each a real process on a free loopback port, all serving that one registered
version, 1 entity per request:

- ``skewless``: ``skewless models serve churn@production --no-log`` (one worker, uvloop and
  httptools); wrk sends only a random user's key, the server reads the model's features
  from the online store by its lineage, scores, and answers predictions and probabilities.
- ``floor``: ``bench/_predict_floor.py``, a bare Starlette endpoint under the same uvicorn
  settings that receives the feature values of a user in the body, builds the 1-row frame
  with the signature's dtypes and calls the same estimator once (``predict_proba``, the
  prediction its most likely class), the fastest hand-written way to both answers.
- ``mlflow``: ``mlflow models serve -m models:/churn/VERSION --env-manager local``, sent the
  same values as ``dataframe_split``.
- ``bentoml``: BentoML 1.4 (in a side virtualenv under ``bench/.venvs/``, made on first use)
  serving the same pickled estimator (``bench/_predict_bentoml.py``), sent the floor's body;
  skipped, with the reason printed, when it does not install or start in time.

The floor, MLflow and BentoML are sent the stored feature values of random users from a pool
of POOL users (the request bodies are in the wrk script). Before anything is timed, for a
sample of users every variant's predictions (and probabilities, where it gives them) are
checked equal, exactly, to the floor's; a disagreement exits non-zero.

Rows: wrk (one thread) at 1 and 16 connections for every variant, in turns, then at 64
connections the floor, skewless (``--max-batch 64``, the default) and a second skewless
server with ``--max-batch 1``, with the mean batch size of the row from the server's
``/metrics``. wrk shares the machine's cores with the server. "server CPU" is the CPU time
(user + system, from ``/proc``) of the server's processes per answered request.

Targets: skewless at least 60% of the floor's requests/s and p99 under 20 ms at 16
connections; micro-batching at 64 connections at least 10% more requests/s than
``--max-batch 1``.

Every server runs its model with ``OMP_NUM_THREADS=1`` (``--model-threads``; 0 leaves the
library's default of one thread per core): a 1-row prediction gains nothing from threads,
and on 2 cores shared with wrk and the other servers, OpenMP's waiting threads made a 1-row
``predict_proba`` some 10x slower.

Run: ``.venv/bin/python bench/predict.py`` (``--users 100000 --seconds 10``,
``--variants floor,skewless,mlflow,bentoml``, ``--no-write``); ``--quick`` for a tiny run
(floor and skewless only, unless ``--variants`` asks for more) that checks the answers agree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from _agree import require_equal
from _results import conditions, replace_section
from serve import free_port, run_wrk

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
VENVS = BENCH / ".venvs"
SECTION = "## Prediction server (`bench/predict.py`)"
MODEL = "churn"
FEATURES = [
    "total_purchases",
    "avg_purchase_amount",
    "days_since_last_login",
    "session_minutes",
    "churn_score",
]
VARIANTS = ("floor", "skewless", "mlflow", "bentoml")
TARGET_VS_FLOOR = 0.60
TARGET_P99_MS = 20.0
TARGET_BATCHING_GAIN = 1.10
START_TIMEOUT_S = 120.0
WRK_TIMEOUT_S = 30
THREADS: dict[str, str] = {}
"""``OMP_NUM_THREADS`` for every server process (``--model-threads``; empty: the default)."""
INSTALL_TIMEOUT_S = 900.0
BENTOML_SPEC = "bentoml==1.4.*"
BENTOML_PINNED = ("scikit-learn", "pandas", "numpy", "cloudpickle", "orjson")

LUA_KEYS = """
local first, users = %(first)d, %(users)d
local headers = {["Content-Type"] = "application/json"}
math.randomseed(7)
request = function()
  local body = '{"entities":{"user_id":[' .. (first + math.random(0, users - 1)) .. ']}}'
  return wrk.format("POST", "%(path)s", headers, body)
end
"""

LUA_BODIES = """
local bodies = {
%(bodies)s
}
local headers = {["Content-Type"] = "application/json"}
local requests = {}
math.randomseed(7)
init = function(args)
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format("POST", "%(path)s", headers, body)
  end
end
request = function()
  return requests[math.random(1, #requests)]
end
"""


# -- the repository and the model -------------------------------------------------------------
@dataclass
class Repo:
    root: Path
    tracking_uri: str
    version: int
    columns: list[str]
    dtypes: list[str]
    model_file: Path
    pool: list[int]
    rows: list[list[Any]]  # the pool's stored feature values, in the model's column order


def build_repo(root: Path, data: Path, users: int, days: int, train: int, pool: int) -> Repo:
    """The repository on disk, materialized, with ``churn`` trained, logged and promoted."""
    import pandas as pd
    from _data import START
    from materialize import USER, ensure_source, feature_view
    from sklearn.ensemble import HistGradientBoostingClassifier

    from skewless import FeatureService, FeatureStore
    from skewless.models import log_model, promote, tracking_for, training_data

    source = ensure_source(users, days, data=data)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "feature_store.yaml").write_text(
        "project: bench_predict\nregistry: registry.db\n"
        "online_store:\n  type: sqlite\n  path: online.db\n"
    )
    view = feature_view(source)
    service = FeatureService(name="scoring", features=[view[FEATURES]])
    rng = np.random.default_rng(11)
    with FeatureStore(root) as store:
        store.apply([USER, view, service])
        store.materialize(START - timedelta(days=1), START + timedelta(days=days))
        ids = rng.choice(users, min(train, users), replace=False).astype(np.int64) + 1001
        entity = pd.DataFrame({"user_id": ids, "event_timestamp": START + timedelta(days=days)})
        x = store.get_historical_features(entity, service).to_df().set_index("user_id")
        x = x.loc[ids]
        risk = (
            2.0 * x["churn_score"].to_numpy()
            + x["days_since_last_login"].to_numpy() / 45.0
            - x["total_purchases"].to_numpy() / 250.0
            + rng.normal(scale=0.5, size=len(x))
        )
        entity["churned"] = (risk > np.median(risk)).astype(np.int64)
        store.get_historical_features(entity, service).save_dataset("churn_train")
        features, label = training_data("churn_train", store)
        model = HistGradientBoostingClassifier(
            max_iter=100, early_stopping=False, random_state=0
        ).fit(features, label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = log_model(model, MODEL, dataset="churn_train", store=store).version
            promote(MODEL, version, "production", store=store)
        tracking = tracking_for(store.config)
        chosen = sorted(int(u) for u in rng.choice(users, min(pool, users), replace=False) + 1001)
        online = store.get_online_features(service, {"user_id": chosen}).to_dict()
    model_file, columns, dtypes = _model_files(tracking.tracking_uri, version)
    rows = [list(r) for r in zip(*(online[c] for c in columns), strict=True)]
    return Repo(root, tracking.tracking_uri, version, columns, dtypes, model_file, chosen, rows)


def _model_files(tracking_uri: str, version: int) -> tuple[Path, list[str], list[str]]:
    """The stored model's pickle file, its input columns and their numpy dtypes."""
    import mlflow
    from mlflow.models import Model

    mlflow.set_tracking_uri(tracking_uri)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{version}"))
    schema = Model.load(local).get_input_schema()
    dtypes = [str(np.dtype(t)) for t in schema.numpy_types()]
    return local / "model.pkl", list(schema.input_names()), dtypes


def model_call_us(repo: Repo, calls: int = 500) -> dict[str, float]:
    """Median microseconds of the model calls on a 1-row frame, in this process."""
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{repo.version}")
    estimator = model.get_raw_model()
    typed = list(zip(repo.columns, repo.dtypes, strict=True))
    row = repo.rows[0]
    frame = pd.DataFrame({c: np.array([v], dtype=d) for (c, d), v in zip(typed, row, strict=True)})

    def median_us(call: Callable[[], object]) -> float:
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        return statistics.median(times) * 1e6

    return {
        "frame": median_us(
            lambda: pd.DataFrame(
                {c: np.array([v], dtype=d) for (c, d), v in zip(typed, row, strict=True)}
            )
        ),
        "pyfunc_predict": median_us(lambda: model.predict(frame)),
        "estimator_predict": median_us(lambda: estimator.predict(frame)),
        "predict_proba": median_us(lambda: estimator.predict_proba(frame)),
    }


# -- the servers ------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    health: str
    path: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def _launch(
    name: str,
    command: Sequence[str],
    health: str,
    path: str,
    port: int,
    env: dict[str, str],
    logs: Path,
    cwd: Path | None = None,
) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            env={**os.environ, **THREADS, **env},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
    return Server(name, f"http://127.0.0.1:{port}", process, health, path, log)


def start_skewless(repo: Repo, logs: Path, max_batch: int) -> Server:
    port = free_port()
    skewless = Path(sys.executable).with_name("skewless")
    command = [
        str(skewless),
        "--repo",
        str(repo.root),
        "models",
        "serve",
        f"{MODEL}@production",
        "--port",
        str(port),
        "--no-log",
        "--max-batch",
        str(max_batch),
        "--log-level",
        "warning",
    ]
    name = "skewless" if max_batch != 1 else "skewless-batch1"
    return _launch(name, command, "/health", "/predict", port, {}, logs)


def start_floor(repo: Repo, logs: Path) -> Server:
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": repo.tracking_uri, "BENCH_FLOOR_MODEL": _model_uri(repo)}
    command = [sys.executable, str(BENCH / "_predict_floor.py"), str(port)]
    return _launch("floor", command, "/health", "/predict", port, env, logs, cwd=BENCH)


def start_mlflow(repo: Repo, logs: Path) -> Server:
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow),
        "models",
        "serve",
        "-m",
        _model_uri(repo),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {"MLFLOW_TRACKING_URI": repo.tracking_uri, "PATH": _path_with(mlflow.parent)}
    return _launch("mlflow", command, "/ping", "/invocations", port, env, logs)


def start_bentoml(repo: Repo, logs: Path, python: Path, home: Path) -> Server:
    port = free_port()
    command = [
        str(python.with_name("bentoml")),
        "serve",
        "_predict_bentoml:Churn",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {
        "BENCH_BENTOML_MODEL": str(repo.model_file),
        "BENCH_BENTOML_SCHEMA": json.dumps(list(zip(repo.columns, repo.dtypes, strict=True))),
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "True",
        "PATH": _path_with(python.parent),
    }
    return _launch("bentoml", command, "/readyz", "/predict", port, env, logs, cwd=BENCH)


def _path_with(folder: Path) -> str:
    """``PATH`` with ``folder`` (a virtualenv's ``bin``) first: the servers run tools by name."""
    return os.pathsep.join([str(folder), os.environ.get("PATH", "")])


def _model_uri(repo: Repo) -> str:
    return f"models:/{MODEL}/{repo.version}"


def wait_ready(server: Server, timeout: float = START_TIMEOUT_S) -> str | None:
    """None once ``server`` answers its health route, else why it did not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            return f"exited with code {server.process.returncode}:\n{tail}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + server.health, timeout=1).status_code == 200:
                return None
        time.sleep(0.1)
    return f"did not answer {server.health} within {timeout:.0f} s"


def stop(server: Server) -> None:
    """SIGTERM to the server's process group, SIGKILL after 15 s."""
    if server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.process.wait()


def bentoml_python(venv: Path) -> tuple[Path | None, str]:
    """The side virtualenv's python with BentoML 1.4 and this venv's versions of the model's
    libraries (made on first use), or None and the reason it is not there."""
    import importlib.metadata

    pins = [f"{p}=={importlib.metadata.version(p)}" for p in BENTOML_PINNED]
    python = venv / "bin" / "python"
    marker = venv / "installed.txt"
    wanted = "\n".join([BENTOML_SPEC, *pins])
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python, "cached"
    shutil.rmtree(venv, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", BENTOML_SPEC, *pins],
            check=True,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-3:]
        return None, "pip install failed: " + " / ".join(tail)
    except subprocess.TimeoutExpired:
        return None, f"pip install took over {INSTALL_TIMEOUT_S:.0f} s"
    marker.write_text(wanted)
    return python, "installed"


# -- the answers --------------------------------------------------------------------------------
Answer = tuple[Any, list[float] | None]  # (prediction, probabilities) of one entity


def features_body(columns: list[str], row: list[Any]) -> bytes:
    return orjson.dumps({"features": dict(zip(columns, row, strict=True))})


def mlflow_body(columns: list[str], rows: list[list[Any]]) -> bytes:
    return orjson.dumps({"dataframe_split": {"columns": columns, "data": rows}})


def answers_of(server: Server, repo: Repo, sample: list[int]) -> list[Answer]:
    """``server``'s answers for the pool's users at ``sample`` (indexes), in order."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        if server.name == "mlflow":
            rows = [repo.rows[i] for i in sample]
            response = client.post(
                server.path,
                content=mlflow_body(repo.columns, rows),
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()
            return [(p, None) for p in response.json()["predictions"]]
        out: list[Answer] = []
        for i in sample:
            if server.name.startswith("skewless"):
                body = orjson.dumps({"entities": {"user_id": [repo.pool[i]]}})
            else:
                body = features_body(repo.columns, repo.rows[i])
            response = client.post(
                server.path, content=body, headers={"Content-Type": "application/json"}
            )
            response.raise_for_status()
            answer = response.json()
            probabilities = answer.get("probabilities")
            out.append((answer["predictions"][0], probabilities[0] if probabilities else None))
        return out


def check_answers(
    reference_name: str, reference: list[Answer], name: str, other: list[Answer]
) -> None:
    """Exit non-zero unless ``other``'s predictions equal ``reference``'s, and its
    probabilities too where it gives them (exactly: the same model on the same values)."""
    require_equal(reference_name, [a[0] for a in reference], name, [a[0] for a in other])
    if any(a[1] is not None for a in other):
        require_equal(
            f"{reference_name} probabilities",
            [a[1] for a in reference],
            f"{name} probabilities",
            [a[1] for a in other],
        )


# -- timing -------------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of process ``pid`` and its descendants."""
    if not Path(f"/proc/{pid}/stat").exists():
        return None
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        p = todo.pop()
        todo += tree.get(p, [])
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def lua_for(server: Server, repo: Repo, users: int) -> str:
    if server.name.startswith("skewless"):
        return LUA_KEYS % {"first": 1001, "users": users, "path": server.path}
    if server.name == "mlflow":
        bodies = [mlflow_body(repo.columns, [row]) for row in repo.rows]
    else:
        bodies = [features_body(repo.columns, row) for row in repo.rows]
    text = ",\n".join(f"[=[{b.decode()}]=]" for b in bodies)
    return LUA_BODIES % {"bodies": text, "path": server.path}


HISTOGRAMS = {
    "batch": "skewless_predict_batch_requests",
    "fetch_ms": "skewless_predict_feature_fetch_seconds",
    "model_ms": "skewless_predict_model_seconds",
}


def histogram_totals(server: Server) -> dict[str, tuple[float, float]]:
    """Sum and count of the serving histograms, from the server's /metrics."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    out = {}
    for key, name in HISTOGRAMS.items():
        total = re.search(rf"^{name}_sum (\S+)$", text, re.M)
        count = re.search(rf"^{name}_count (\S+)$", text, re.M)
        assert total and count, text
        out[key] = (float(total.group(1)), float(count.group(1)))
    return out


def means_between(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Each histogram's mean over the observations between two readings (seconds as ms)."""
    out = {}
    for key, (total, count) in after.items():
        n = count - before[key][1]
        if n > 0:
            scale = 1000.0 if key.endswith("_ms") else 1.0
            out[key] = (total - before[key][0]) / n * scale
    return out


@dataclass
class Row:
    variant: str
    connections: int
    p50: float
    p99: float
    rps: float
    cpu_us: float | None
    batch: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def measure(server: Server, script: str, connections: int, seconds: int) -> Row:
    batched = server.name.startswith("skewless")
    totals = histogram_totals(server) if batched else None
    before = tree_cpu_seconds(server.pid)
    out = run_wrk(server.url, script, connections, seconds, WRK_TIMEOUT_S)
    after = tree_cpu_seconds(server.pid)
    cpu = None
    if before is not None and after is not None and out["rps"]:
        cpu = (after - before) / (out["rps"] * seconds) * 1e6
    means = means_between(totals, histogram_totals(server)) if totals is not None else {}
    return Row(
        server.name,
        connections,
        out["p50"],
        out["p99"],
        out["rps"],
        cpu,
        means.get("batch"),
        {k: v for k, v in means.items() if k != "batch"},
    )


# -- the report ---------------------------------------------------------------------------------
LABELS = {
    "floor": "floor: bare endpoint, values in the body",
    "skewless": "skewless /predict (fetch + model)",
    "skewless-batch1": "skewless /predict, --max-batch 1",
    "mlflow": "mlflow models serve",
    "bentoml": "BentoML 1.4",
}


def table(rows: list[Row]) -> list[str]:
    floors = {r.connections: r.rps for r in rows if r.variant == "floor"}
    lines = [
        "| variant | connections | p50 ms | p99 ms | requests/s | vs floor | server CPU us/req "
        "| mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        floor = floors.get(r.connections)
        lines.append(
            f"| {LABELS[r.variant]} | {r.connections} | {r.p50:.2f} | {r.p99:.2f} | "
            f"{r.rps:,.0f} | {f'{r.rps / floor:.0%}' if floor else ''} | "
            f"{f'{r.cpu_us:,.0f}' if r.cpu_us is not None else ''} | "
            f"{f'{r.batch:.1f}' if r.batch is not None else ''} |"
        )
    return lines


def verdicts(rows: list[Row]) -> list[str]:
    def find(variant: str, connections: int) -> Row | None:
        found = [r for r in rows if r.variant == variant and r.connections == connections]
        return found[0] if found else None

    def met(ok: bool) -> str:
        return "met" if ok else "not met"

    out = []
    ours, floor = find("skewless", 16), find("floor", 16)
    if ours and floor:
        share = ours.rps / floor.rps
        fast = ours.p99 < TARGET_P99_MS
        out.append(
            f"- skewless at 16 connections: {share:.0%} of the floor's requests/s "
            f"(target {TARGET_VS_FLOOR:.0%}: {met(share >= TARGET_VS_FLOOR)}); p99 "
            f"{ours.p99:.2f} ms (target under {TARGET_P99_MS:g} ms: {met(fast)})"
        )
    batched, single = find("skewless", 64), find("skewless-batch1", 64)
    if batched and single:
        gain = batched.rps / single.rps
        out.append(
            f"- micro-batching at 64 connections: {batched.rps:,.0f} requests/s with "
            f"--max-batch 64 (mean batch {batched.batch or 0:.1f}) against {single.rps:,.0f} "
            f"with --max-batch 1 (mean batch {single.batch or 0:.1f}), {gain:.2f}x "
            f"(target {TARGET_BATCHING_GAIN:.2f}x: {met(gain >= TARGET_BATCHING_GAIN)}); p99 "
            f"{batched.p99:.2f} against {single.p99:.2f} ms"
        )
    return out


def batch_times(rows: list[Row]) -> list[str]:
    """Where a skewless batch's time goes, from the server's own histograms."""
    out = []
    for r in rows:
        if r.variant.startswith("skewless") and "fetch_ms" in r.extra:
            out.append(
                f"- {LABELS[r.variant]}, {r.connections} connections: mean batch "
                f"{r.batch or 0:.1f} requests, feature fetch {r.extra['fetch_ms']:.2f} ms and "
                f"model {r.extra.get('model_ms', 0):.2f} ms per batch"
            )
    return out


def write_results(command: str, head: str, lines: list[str]) -> None:
    body = [
        SECTION,
        "",
        f"Command: `{command}` ({conditions()}).",
        "",
        head,
        "",
        *lines,
        "",
    ]
    replace_section(SECTION, body)


# -- the run ------------------------------------------------------------------------------------
def progress(began: float, what: str) -> None:
    print(f"[{time.monotonic() - began:5.1f} s] {what}", flush=True)


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    try:
        yield servers
    finally:
        for server in servers:
            stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--train", type=int, default=20_000, help="users in the training set")
    parser.add_argument("--pool", type=int, default=2_000, help="users in the wrk bodies")
    parser.add_argument("--sample", type=int, default=200, help="users checked for agreement")
    parser.add_argument("--seconds", type=int, default=10, help="wrk seconds per row")
    parser.add_argument("--variants", help=f"default: {','.join(VARIANTS)}")
    parser.add_argument("--data", type=Path, default=DATA, help="where generated data goes")
    parser.add_argument(
        "--model-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of every server (0: the library's default, one per core)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, 2 s per row, no write (agreement)"
    )
    args = parser.parse_args()
    if args.quick:
        args.users, args.days, args.train, args.pool, args.sample = 2_000, 2, 1_000, 100, 50
        args.seconds, args.no_write = 2, True
    default = "floor,skewless" if args.quick else ",".join(VARIANTS)
    variants = (args.variants or default).split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown or not {"floor", "skewless"} <= set(variants):
        raise SystemExit(f"--variants: floor and skewless are needed; known: {VARIANTS}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    if args.model_threads:
        THREADS["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.model_threads)
    began, load = time.monotonic(), os.getloadavg()[0]
    work = args.data / "predict"
    logs = work / "logs"
    repo = build_repo(work / "repo", args.data, args.users, args.days, args.train, args.pool)
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    progress(began, "repository built, model trained, logged and promoted")
    calls = model_call_us(repo, 50 if args.quick else 500)
    notes: list[str] = []
    servers = [start_floor(repo, logs), start_skewless(repo, logs, 64)]
    servers.append(start_skewless(repo, logs, 1))
    if "mlflow" in variants:
        servers.append(start_mlflow(repo, logs))
    if "bentoml" in variants:
        python, how = bentoml_python(VENVS / "bentoml")
        if python is None:
            notes.append(f"BentoML skipped: {how}")
        else:
            servers.append(start_bentoml(repo, logs, python, work / "bentoml_home"))

    with running(servers):
        for server in list(servers):
            problem = wait_ready(server)
            if problem is None:
                continue
            if server.name == "bentoml":
                notes.append(f"BentoML skipped: it {problem}")
                stop(server)
                servers.remove(server)
            else:
                raise SystemExit(f"{server.name} {problem}")
        sample = sorted(
            np.random.default_rng(5).choice(len(repo.pool), min(args.sample, len(repo.pool)), False)
        )
        progress(began, "servers ready: " + ", ".join(s.name for s in servers))
        by_name = {s.name: s for s in servers}
        reference = answers_of(by_name["floor"], repo, sample)
        for server in servers[1:]:
            check_answers("floor", reference, server.name, answers_of(server, repo, sample))
        agreed = ", ".join(s.name for s in servers)
        print(f"answers agree: {agreed} ({len(sample)} users, predictions and probabilities)")

        scripts = {s.name: lua_for(s, repo, args.users) for s in servers}
        for server in [] if args.quick else servers:  # warm up
            run_wrk(server.url, scripts[server.name], 16, 2, WRK_TIMEOUT_S)
        progress(began, "warmed up")
        rows: list[Row] = []
        timed = [s for s in servers if s.name != "skewless-batch1"]
        for connections in (1, 16):
            for server in timed:
                rows.append(measure(server, scripts[server.name], connections, args.seconds))
        for name in ("floor", "skewless", "skewless-batch1"):
            rows.append(measure(by_name[name], scripts[name], 64, args.seconds))

    progress(began, "timed")
    cpus = os.cpu_count()
    head = (
        f"Prediction server, 1 worker per server, {args.users:,} users x {len(FEATURES)} "
        f"numeric features in SQLite, a 100-tree HistGradientBoostingClassifier, 1 entity per "
        f"request, wrk (1 thread) {args.seconds} s per row on the same {cpus} cores. The "
        "floor is a bare Starlette endpoint under the same uvicorn settings, given the "
        "feature values in the body, calling the same estimator once (predict_proba, the "
        "prediction its most likely class); skewless is given the user's key only and "
        "reads the features from the online store. MLflow and BentoML are given the values "
        "in the body. Every variant's predictions and probabilities were checked equal to "
        f"the floor's for {len(sample)} users before timing. skewless scores the requests "
        "that arrive together with one feature read and one model call (mean batch: requests "
        "per batch in the row, from the server's /metrics); the floor, MLflow and BentoML call "
        "the model once per request. Every server's model runs with "
        f"{THREADS.get('OMP_NUM_THREADS', 'the default number of')} OpenMP thread(s). Load "
        f"average {load:.1f} when the run started."
    )
    model_line = (
        "Model calls in the bench process, 1-row frame (median us): building the frame "
        f"{calls['frame']:.0f}, pyfunc predict {calls['pyfunc_predict']:.0f}, estimator "
        f"predict {calls['estimator_predict']:.0f}, predict_proba {calls['predict_proba']:.0f}."
    )
    lines = [*table(rows), "", *verdicts(rows), "", *batch_times(rows), "", model_line, *notes]
    print(head)
    print("\n".join(lines))
    if not args.no_write:
        command = " ".join([".venv/bin/python bench/predict.py", *sys.argv[1:]])
        write_results(command, head, lines)


if __name__ == "__main__":
    main()
