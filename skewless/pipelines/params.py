"""A run's params: the pipeline's defaults with the overrides given (``--params k=v``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from skewless.definitions import Pipeline
from skewless.errors import PipelineInputError

__all__ = ["parse_pairs", "run_params"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a dict of text values.

    >>> parse_pairs(["max_iter=20", "note=a=b"])
    {'max_iter': '20', 'note': 'a=b'}

    Raises:
        PipelineInputError: an item has no ``=``.
    """
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PipelineInputError(f"--params {pair!r} is not KEY=VALUE: write e.g. max_iter=20")
        found[key.strip()] = value
    return found


def run_params(pipeline: Pipeline, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every param of a run of ``pipeline``; a text override takes its default's type.

    >>> from skewless.definitions import Step
    >>> import textwrap
    >>> p = Pipeline("tidy", steps=[Step("dedent", textwrap.dedent, inputs={"text": "raw"})],
    ...     params={"raw": "x", "n": 3, "fast": False})
    >>> run_params(p, {"n": "5", "fast": "yes"})
    {'raw': 'x', 'n': 5, 'fast': True}

    Raises:
        PipelineInputError: an override names no param, or cannot be read as its type.
    """
    values = dict(pipeline.params)
    for key, given in (overrides or {}).items():
        if key not in values:
            raise PipelineInputError(
                f"pipeline {pipeline.name!r} has no param {key!r} (params: "
                f"{', '.join(values) or 'none'}): declare it in Pipeline(params=...)"
            )
        value = _coerce(given, values[key], pipeline.name, key) if isinstance(given, str) else given
        try:
            values[key] = orjson.loads(orjson.dumps(value))
        except TypeError:
            raise PipelineInputError(
                f"param {key!r} of pipeline {pipeline.name!r} must be a JSON value, got "
                f"{type(value).__name__}"
            ) from None
    return values


def _coerce(text: str, default: Any, pipeline: str, key: str) -> Any:
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, str):
            return text
        return orjson.loads(text)
    except (ValueError, orjson.JSONDecodeError):
        if default is None:
            return text
        kind = type(default).__name__
        raise PipelineInputError(
            f"param {key}={text!r} of pipeline {pipeline!r} is not a {kind} like its default "
            f"{default!r}: pass e.g. {key}={orjson.dumps(default).decode()}"
        ) from None
