"""Micro-batching and the prediction cache: concurrent requests to a real server are scored
together and answered exactly as alone; the batcher holds no lone request; a request failing
inside a batch fails alone; cached answers are never stale and a Redis cache is shared."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pandas as pd
import pytest
from redis_server import RedisServer, redis_server  # noqa: F401 - the session fixture

from serving.predict_repo import ServingRepo, expected
from serving.predict_server import PredictionServerProcess
from skewless.errors import EntityFrameError, MissingEntitiesError
from skewless.serving.batching import PredictionBatcher
from skewless.serving.records import Prediction, PredictionRequest


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name} in:\n{text}")


def _metrics(server: PredictionServerProcess, *names: str) -> list[float]:
    text = httpx.get(server.url + "/metrics", timeout=20).text
    return [_metric(text, name) for name in names]


def _predict(server: PredictionServerProcess, users: list[int]) -> dict[str, Any]:
    answer = httpx.post(server.url + "/predict", json={"entities": {"user_id": users}}, timeout=20)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _per_entity(body: dict[str, Any]) -> list[tuple[Any, Any]]:
    return list(zip(body["predictions"], body["probabilities"], strict=True))


@pytest.fixture(scope="module")
def cache_redis(redis_server: RedisServer) -> RedisServer:  # noqa: F811
    redis_server.flushall()
    return redis_server


@dataclass
class Servers:
    """``churn/1`` served three times: two processes sharing a prediction cache in Redis
    (flushed where a test needs misses) and one with an in-process cache."""

    redis: PredictionServerProcess
    redis_other: PredictionServerProcess
    memory: PredictionServerProcess


@pytest.fixture(scope="module")
def servers(serving: ServingRepo, cache_redis: RedisServer) -> Iterator[Servers]:
    started = [
        PredictionServerProcess(serving.root, "churn/1", "--cache", spec, wait=False)
        for spec in (cache_redis.url, cache_redis.url, "memory")
    ]
    try:
        yield Servers(*(process.wait_ready() for process in started))
    finally:
        for process in started:
            process.stop()


@pytest.fixture(scope="module")
def server(servers: Servers) -> PredictionServerProcess:
    return servers.redis


# -- batching on a real server ---------------------------------------------------------------

USERS = 64
BATCH_NAMES = ("skewless_predict_batch_requests_sum", "skewless_predict_batch_requests_count")


def test_concurrent_requests_are_batched_and_answered_as_alone(
    server: PredictionServerProcess, cache_redis: RedisServer
) -> None:
    bodies = [[u, (u * 7 + 3) % USERS] for u in range(USERS)] * 2
    with httpx.Client(base_url=server.url, timeout=20) as client:
        alone = {
            user: _per_entity(
                client.post("/predict", json={"entities": {"user_id": [user]}}).json()
            )[0]
            for user in range(USERS)
        }
    cache_redis.flushall()  # no answer below comes from the cache
    summed, batches = _metrics(server, *BATCH_NAMES)

    async def together() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            return await asyncio.gather(
                *(client.post("/predict", json={"entities": {"user_id": b}}) for b in bodies)
            )

    answers: list[httpx.Response] = asyncio.run(together())
    summed_after, batches_after = _metrics(server, *BATCH_NAMES)
    for users, answer in zip(bodies, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert _per_entity(answer.json()) == [alone[u] for u in users]
    requests = summed_after - summed
    assert requests == len(answers)
    assert requests / (batches_after - batches) > 1, (requests, batches_after - batches)


# -- the batcher in-process ------------------------------------------------------------------


class SlowScore:
    """A score function that records its batches and, while ``gate`` is clear, blocks."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.started = threading.Event()

    def __call__(self, jobs: Sequence[PredictionRequest]) -> list[Prediction | BaseException]:
        self.batches.append([job.entities["user_id"][0] for job in jobs])
        self.started.set()
        self.gate.wait(10)
        return [_answer(job) for job in jobs]


def _answer(job: PredictionRequest) -> Prediction:
    return Prediction(
        request_id=job.request_id,
        time=datetime.now(UTC),
        model_name="m",
        model_version=1,
        entities=job.entities,
        features={},
        predictions=list(job.entities["user_id"]),
        probabilities=None,
        missing=[],
        latency_ms=0.0,
    )


def _job(user: int) -> PredictionRequest:
    return PredictionRequest({"user_id": [user]})


MAX_WAIT_MS = 60_000.0  # longer than any test here may take: a request held for it fails


def test_an_idle_batcher_scores_a_lone_request_at_once() -> None:
    score = SlowScore()
    score.gate.set()
    batcher = PredictionBatcher(score, max_batch=64, max_wait_ms=MAX_WAIT_MS)

    async def lone() -> list[Prediction]:
        first = await asyncio.wait_for(batcher.submit(_job(1)), timeout=10)
        second = await asyncio.wait_for(batcher.submit(_job(2)), timeout=10)
        return [first, second]

    try:
        answers = asyncio.run(lone())
    finally:
        batcher.close()
    assert [a.predictions for a in answers] == [[1], [2]]
    assert score.batches == [[1], [2]]


@pytest.mark.parametrize(
    ("max_batch", "while_in_flight", "after"),
    [
        (64, [[1]], [[1], [2, 3, 4, 5, 6, 7]]),
        (4, [[1], [2, 3, 4, 5]], [[1], [2, 3, 4, 5], [6, 7]]),  # a full batch takes a free thread
    ],
)
def test_requests_arriving_while_a_batch_is_in_flight_are_coalesced(
    max_batch: int, while_in_flight: list[list[int]], after: list[list[int]]
) -> None:
    score = SlowScore()
    batcher = PredictionBatcher(score, max_batch=max_batch, max_wait_ms=MAX_WAIT_MS)

    async def burst() -> list[Prediction]:
        first = asyncio.ensure_future(batcher.submit(_job(1)))
        await asyncio.to_thread(score.started.wait, 10)  # job 1 is being scored
        rest = [asyncio.ensure_future(batcher.submit(_job(u))) for u in range(2, 8)]
        for _ in range(200):  # a full batch is handed to the free scoring thread
            if len(score.batches) >= len(while_in_flight):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        assert score.batches == while_in_flight  # the others wait for a batch to finish
        score.gate.set()
        return await asyncio.wait_for(asyncio.gather(first, *rest), timeout=10)

    try:
        answers = asyncio.run(burst())
    finally:
        batcher.close()
    assert [a.predictions for a in answers] == [[u] for u in range(1, 8)]
    assert score.batches == after


def test_a_request_failing_inside_a_batch_fails_alone(serving: ServingRepo) -> None:
    from skewless.models.tracking import tracking_for
    from skewless.serving import parse_model_ref
    from skewless.serving.model import load_served_model
    from skewless.serving.service import PredictionService

    store = serving.store
    _, records = store.registry.records()
    model = load_served_model(
        tracking_for(store.config), parse_model_ref("churn/1"), records, store.registry.history
    )
    service = PredictionService(model, store.get_online_features, missing="error")
    jobs = [
        PredictionRequest({"user_id": [1, 2]}),
        PredictionRequest({"user_id": ["abc"]}),
        PredictionRequest({"user_id": [3, 987_654]}),
        PredictionRequest({"user_id": [4]}),
    ]
    good, wrong_type, missing, last = service.score(jobs)
    assert isinstance(good, Prediction) and isinstance(last, Prediction)
    assert good.predictions == expected(store, {"user_id": [1, 2]}, 1)[0]
    assert last.predictions == expected(store, {"user_id": [4]}, 1)[0]
    assert isinstance(wrong_type, EntityFrameError)
    assert "user_id" in str(wrong_type)
    assert isinstance(missing, MissingEntitiesError)
    assert missing.keys == [{"user_id": 987_654}]


# -- the prediction cache --------------------------------------------------------------------

CACHE_NAMES = ("skewless_prediction_cache_hits_total", "skewless_prediction_cache_misses_total")


@pytest.fixture(scope="module")
def memory_server(servers: Servers) -> PredictionServerProcess:
    return servers.memory


def test_a_repeated_request_is_a_cache_hit_and_new_features_are_never_stale(
    serving: ServingRepo, memory_server: PredictionServerProcess
) -> None:
    user = 17
    first = _predict(memory_server, [user])
    hits, misses = _metrics(memory_server, *CACHE_NAMES)
    again = _predict(memory_server, [user])
    hits_after, misses_after = _metrics(memory_server, *CACHE_NAMES)
    assert again["predictions"] == first["predictions"]
    assert (hits_after - hits, misses_after - misses) == (1, 0)

    # new values for the user: the next answer is the model's on them, not the cached one
    old = serving.store.get_online_features(
        ["user_stats:x1", "user_stats:x2", "user_stats:x3", "user_stats:visits"],
        {"user_id": [user]},
    ).to_dict()
    flipped = 0.0 if first["predictions"] == [1] else 1.0
    row = {
        "user_id": [user],
        "event_timestamp": [datetime.now(UTC)],
        "x1": [flipped],
        "x2": old["x2"],
        "x3": old["x3"],
        "visits": old["visits"],
    }
    serving.store.write_to_online_store("user_stats", pd.DataFrame(row))
    want, _ = expected(serving.store, {"user_id": [user]}, 1)
    changed = _predict(memory_server, [user])
    assert changed["predictions"] == want
    assert changed["predictions"] != first["predictions"]
    assert _metrics(memory_server, *CACHE_NAMES)[1] == misses_after + 1


def test_a_redis_cache_is_shared_by_two_servers(servers: Servers, cache_redis: RedisServer) -> None:
    users = [31, 32, 33]
    cache_redis.flushall()
    first = _predict(servers.redis, users)
    hits, misses = _metrics(servers.redis_other, *CACHE_NAMES)
    shared = _predict(servers.redis_other, users)
    hits_after, misses_after = _metrics(servers.redis_other, *CACHE_NAMES)
    assert _per_entity(shared) == _per_entity(first)
    assert (hits_after - hits, misses_after - misses) == (3, 0)
