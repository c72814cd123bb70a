"""Converting a scikit-learn estimator to ONNX (skl2onnx), and int8 weight quantization.

The graph takes one float32 tensor ``X`` (rows x features, in lineage order) when every
feature is numeric, else one ``[rows, 1]`` tensor per feature (float32, or string for a string
feature a pipeline encodes itself); a classifier's
outputs are ``label`` and ``probabilities`` (a tensor, one column per class in ``classes_``
order: skl2onnx's ``zipmap`` is off), a regressor's is ``variable``. Quantization is
onnxruntime's dynamic quantization: the weights of ``MatMul``/``Gemm`` nodes are stored as int8
with a scale, and activations are quantized on the fly, so a neural network's file shrinks to
about a quarter; a tree ensemble has no such weights and is refused.

``pip install 'skewless[compress]'``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from skewless.errors import ModelCompressionError
from skewless.models.onnx_model import COMPRESS_HINT, INPUT_NAME

__all__ = ["QUANTIZED_OPS", "check_convertible", "quantize_int8", "to_onnx_bytes"]

QUANTIZED_OPS = frozenset({"MatMul", "Gemm"})
"""The nodes whose weights dynamic int8 quantization stores as int8."""
_PATCH_LOCK = threading.Lock()


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelCompressionError(
            f"model compression needs {module.split('.')[0]}: {COMPRESS_HINT}"
        ) from None


def check_convertible(estimator: Any, what: str) -> None:
    """Refuse anything but a scikit-learn estimator.

    Args:
        estimator: the version's raw model.
        what: ``model 'NAME' version N``, for the message.

    Raises:
        ModelCompressionError: naming the type, and what compresses.
    """
    from skewless.models.training import _is_sklearn

    if estimator is None or not _is_sklearn(estimator):
        kind = type(estimator)
        raise ModelCompressionError(
            f"{what} is a {kind.__module__}.{kind.__qualname__}, which skewless cannot convert "
            "to ONNX: compress a scikit-learn estimator, or serve this version as it is"
        )


def _ints(value: Any) -> Any:
    if isinstance(value, list | tuple) and any(isinstance(v, bool | np.bool_) for v in value):
        return [int(v) if isinstance(v, bool | np.bool_) else v for v in value]
    return value


@contextmanager
def _integer_flags() -> Iterator[None]:
    """skl2onnx's tree converters put Python booleans among integer attributes (the
    missing-value flag of each leaf), which protobuf 7 refuses; they are passed as 0/1."""
    from skl2onnx.common import _container

    original = _container.make_node

    def make_node(*args: Any, **attrs: Any) -> Any:
        return original(*args, **{k: _ints(v) for k, v in attrs.items()})

    with _PATCH_LOCK:
        _container.make_node = make_node
        try:
            yield
        finally:
            _container.make_node = original


def _merge_opsets(model: Any) -> None:
    """One ``opset_import`` per domain (skl2onnx may repeat the default domain, which
    onnxruntime's quantizer refuses), keeping the highest version."""
    versions: dict[str, int] = {}
    for entry in model.opset_import:
        versions[entry.domain] = max(versions.get(entry.domain, 0), int(entry.version))
    if len(versions) == len(model.opset_import):
        return
    del model.opset_import[:]
    for domain, version in versions.items():
        model.opset_import.add(domain=domain, version=version)


def _parts(estimator: Any) -> Iterator[Any]:
    """The estimator and the estimators inside its pipelines and column transformers."""
    yield estimator
    for _, step in getattr(estimator, "steps", None) or []:
        yield from _parts(step)
    for entry in getattr(estimator, "transformers_", None) or []:
        yield from _parts(entry[1])


def _check_categorical_splits(estimator: Any, what: str) -> None:
    for part in _parts(estimator):
        flags = getattr(part, "is_categorical_", None)
        if flags is not None and bool(np.any(flags)):
            raise ModelCompressionError(
                f"{what} holds a {type(part).__name__} with categorical splits, which skl2onnx "
                "converts as numeric thresholds (predictions would change): retrain it with "
                "categorical_features=None (ordinal codes) to compress it"
            )


def to_onnx_bytes(estimator: Any, inputs: Mapping[str, str], what: str) -> bytes:
    """The estimator as a serialized ONNX graph.

    Args:
        estimator: a fitted scikit-learn estimator.
        inputs: column -> ``float`` or ``string``, in the model's input order; all ``float``
            makes one float32 matrix input ``X``, else each column is an input of its own.
        what: ``model 'NAME' version N``, for the messages.

    Raises:
        ModelCompressionError: skl2onnx is missing, or cannot convert the estimator faithfully.
    """
    check_convertible(estimator, what)
    _check_categorical_splits(estimator, what)
    skl2onnx = _require("skl2onnx")
    _require("onnx")
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if all(kind == "float" for kind in inputs.values()):
        types = [(INPUT_NAME, FloatTensorType([None, len(inputs)]))]
    else:
        types = [
            (c, StringTensorType([None, 1]) if k == "string" else FloatTensorType([None, 1]))
            for c, k in inputs.items()
        ]
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    try:
        with _integer_flags():
            model = skl2onnx.to_onnx(estimator, initial_types=types, options=options)
    except Exception as exc:
        kind = type(estimator)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelCompressionError(
            f"{what} is a {kind.__module__}.{kind.__qualname__}, which skl2onnx cannot convert "
            f"({reason}): compress an estimator skl2onnx supports, or register a converter "
            "with skl2onnx.update_registered_converter"
        ) from None
    _merge_opsets(model)
    return bytes(model.SerializeToString())


def _weighted_nodes(model: Any) -> int:
    weights = {t.name for t in model.graph.initializer}
    return sum(
        1
        for node in model.graph.node
        if node.op_type in QUANTIZED_OPS and any(i in weights for i in node.input)
    )


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer warns on the root logger to pre-process image models."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def quantize_int8(model: bytes, what: str) -> bytes:
    """``model`` with its ``MatMul``/``Gemm`` weights quantized to int8 (dynamic quantization).

    Raises:
        ModelCompressionError: the graph has no such weights (a tree ensemble), or
            onnxruntime is missing.
    """
    onnx = _require("onnx")
    quantization = _require("onnxruntime.quantization")
    proto = onnx.load_from_string(model)
    if _weighted_nodes(proto) == 0:
        raise ModelCompressionError(
            f"{what} has no weight matrices for int8 quantization to shrink (it stores the "
            "MatMul/Gemm weights of neural networks as int8): compress it without --quantize"
        )
    with tempfile.TemporaryDirectory(prefix="skewless-quantize-") as tmp:
        source, target = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
        source.write_bytes(model)
        with _quiet_quantizer():
            quantization.quantize_dynamic(
                str(source), str(target), weight_type=quantization.QuantType.QInt8
            )
        return target.read_bytes()
