"""Embedding on-demand views end to end: defined, applied, read offline and online."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from embedded_store import embedded_store

import skewless.embeddings as embeddings
from skewless import Entity, FeatureStore, FeatureView, Field, FileSource, RequestSource
from skewless.definitions.on_demand import UDF_PAYLOAD
from skewless.embeddings import TextEmbedder, default_embedder, text_embedding_view
from skewless.errors import DefinitionError
from skewless.types import Array, Float32, Int64, String

T0 = datetime(2024, 5, 1, tzinfo=UTC)
product = Entity(name="product", join_keys=["product_id"])
reviews = FeatureView(
    name="reviews",
    entities=[product],
    ttl=timedelta(days=30),
    schema=[Field(name="text", dtype=String), Field(name="stars", dtype=Int64)],
    source=FileSource(path="data/reviews.parquet"),
)
query = RequestSource(name="query", schema=[Field(name="query_text", dtype=String)])
review_vec = text_embedding_view(name="review_vec", source=reviews)
query_vec = text_embedding_view(name="query_vec", source=query, feature="vec")

REVIEWS = {
    1: "Great shoes, very comfortable for running.",
    2: "The blender broke after two days.",
    3: None,
}
QUERIES = ["comfortable running shoes", None, "kitchen appliance that failed", ""]
KEYS = [1, 2, 3, 4]  # 4 has no review
REFS = ["review_vec:text_embedding", "query_vec:vec"]


def write_reviews(root: Path) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    keys = list(REVIEWS)
    table = pa.table(
        {
            "product_id": pa.array(keys, pa.int64()),
            "event_timestamp": pa.array(
                [T0 - timedelta(hours=k) for k in keys], pa.timestamp("us", "UTC")
            ),
            "text": pa.array([REVIEWS[k] for k in keys], pa.string()),
            "stars": pa.array([5, 1, 3], pa.int64()),
        }
    )
    pq.write_table(table, root / "data" / "reviews.parquet")


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, embedder: TextEmbedder
) -> Iterator[FeatureStore]:
    root = tmp_path_factory.mktemp("embedding_store")
    write_reviews(root)
    store = embedded_store(root, T0, project="emb")
    store.apply([product, reviews, review_vec, query_vec])
    store.materialize(T0 - timedelta(days=2), T0)
    yield store
    store.close()


def read_both(store: FeatureStore) -> tuple[pa.Table, dict[str, list[Any]]]:
    entity = pa.table(
        {
            "product_id": pa.array(KEYS, pa.int64()),
            "event_timestamp": pa.array([T0] * len(KEYS), pa.timestamp("us", "UTC")),
            "query_text": pa.array(QUERIES, pa.string()),
        }
    )
    default_embedder().clear_cache()  # each path runs the model itself
    offline = store.get_historical_features(entity, REFS, full_feature_names=True).to_arrow()
    default_embedder().clear_cache()
    online = store.get_online_features(
        REFS, {"product_id": KEYS, "query_text": QUERIES}, full_feature_names=True
    ).to_dict()
    return offline, online


def close(a: list[float] | None, b: list[float] | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) == 384 and float(np.abs(np.array(a) - np.array(b)).max()) < 1e-6


def test_offline_and_online_give_the_model_s_vectors(
    store: FeatureStore, embedder: TextEmbedder
) -> None:
    offline, online = read_both(store)
    assert offline.schema.field("review_vec__text_embedding").type == pa.list_(pa.float32())
    assert offline.schema.field("query_vec__vec").type == pa.list_(pa.float32())
    rows = offline.to_pylist()
    expected_reviews = embedder.embed([REVIEWS.get(k) for k in KEYS])
    expected_queries = embedder.embed(QUERIES)
    for i in range(len(KEYS)):
        assert rows[i]["product_id"] == KEYS[i]
        for got in (rows[i]["review_vec__text_embedding"], online["review_vec__text_embedding"][i]):
            assert close(got, expected_reviews[i]), (i, "review")
        for got in (rows[i]["query_vec__vec"], online["query_vec__vec"][i]):
            assert close(got, expected_queries[i]), (i, "query")
    # the query about shoes is nearest to the shoe review
    shoes, blender = expected_reviews[0], expected_reviews[1]
    assert shoes is not None and blender is not None
    assert np.dot(expected_queries[0], shoes) > np.dot(expected_queries[0], blender)


def test_online_response_types(store: FeatureStore) -> None:
    response = store.get_online_features(REFS, [{"product_id": 1, "query_text": "shoes"}])
    table = response.to_arrow()
    assert table.schema.field("text_embedding").type == pa.list_(pa.float32())
    assert response.statuses["vec"] == ["PRESENT"]
    missing = store.get_online_features(REFS, [{"product_id": 3, "query_text": None}])
    assert missing.statuses["vec"] == ["NULL_VALUE"]
    assert missing.statuses["text_embedding"] == ["NULL_VALUE"]


def test_the_stored_function_does_not_carry_the_model(store: FeatureStore) -> None:
    spec = store.snapshot().get_on_demand_feature_view("review_vec").to_spec()
    payload = base64.b64decode(spec[UDF_PAYLOAD])
    assert len(payload) < 4000, len(payload)
    for marker in (b"InferenceSession", b"onnxruntime", b"Tokenizer"):
        assert marker not in payload
    assert "text_embedding_view(column='text'" in spec["udf_source"]
    function = cloudpickle.loads(payload)
    assert function({"text": [None]}) == {"text_embedding": [None]}


def test_a_process_that_only_reads_the_registry_serves_the_same_vectors(
    store: FeatureStore, embedder: TextEmbedder
) -> None:
    root = Path(store.config.repo_path)
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
        "from datetime import datetime\n"
        "from pathlib import Path\n"
        "from embedded_store import embedded_store\n"
        f"store = embedded_store(Path({str(root)!r}), datetime.fromisoformat({T0.isoformat()!r}),"
        " project='emb')\n"
        f"r = store.get_online_features({REFS!r}, {{'product_id': [1], 'query_text': ['shoes']}})\n"
        "print(json.dumps(r.to_dict()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert close(served["text_embedding"][0], embedder.embed([REVIEWS[1]])[0])
    assert close(served["vec"][0], embedder.embed(["shoes"])[0])


def test_definitions() -> None:
    assert review_vec.mode == "python" and review_vec.feature_names == ("text_embedding",)
    assert review_vec.dtype_of("text_embedding") == Array(Float32)
    assert [p.features for p in review_vec.sources] == [("text",)]
    assert query_vec.request_columns == query.schema
    other = text_embedding_view(name="stars_text", source=reviews[["text"]], feature="v")
    assert other.feature_names == ("v",)
    with pytest.raises(DefinitionError, match="'stars' is Int64, not String"):
        text_embedding_view(name="bad", source=reviews, column="stars")
    with pytest.raises(DefinitionError, match="no field 'body'"):
        text_embedding_view(name="bad", source=reviews, column="body")
    two = RequestSource(
        name="two", schema=[Field(name="a", dtype=String), Field(name="b", dtype=String)]
    )
    with pytest.raises(DefinitionError, match=r"pass column=\.\.\."):
        text_embedding_view(name="bad", source=two)
    with pytest.raises(DefinitionError, match="is not a RequestSource"):
        text_embedding_view(name="bad", source="reviews")  # type: ignore[arg-type]


def test_apply_without_the_extra_fails_early_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setattr(embeddings, "_DEFAULT", TextEmbedder())
    write_reviews(tmp_path)
    store = embedded_store(tmp_path, T0, project="emb")
    with pytest.raises(DefinitionError, match=r"review_vec.*skewless\[embeddings\]"):
        store.apply([product, reviews, review_vec])
    store.close()
