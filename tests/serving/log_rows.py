"""Predictions built directly (no server) for the prediction log tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from skewless.serving.records import Prediction


def prediction(
    request_id: str,
    when: datetime | None = None,
    *,
    version: int = 1,
    entities: dict[str, list[Any]] | None = None,
    features: dict[str, list[Any]] | None = None,
    predictions: list[Any] | None = None,
    probabilities: list[list[float] | None] | None = None,
    missing: Sequence[int] = (),
    latency_ms: float = 3.0,
    cached: int = 0,
    arm: str | None = None,
    model: str = "churn",
) -> Prediction:
    entities = entities if entities is not None else {"user_id": [1, 2]}
    rows = len(next(iter(entities.values())))
    return Prediction(
        request_id=request_id,
        time=when or datetime.now(UTC),
        model_name=model,
        model_version=version,
        entities=entities,
        features=features if features is not None else {"age": [30 + i for i in range(rows)]},
        predictions=predictions if predictions is not None else [i % 2 for i in range(rows)],
        probabilities=probabilities,
        missing=list(missing),
        latency_ms=latency_ms,
        cached=cached,
        arm=arm,
    )


def visible_parquet(directory: Path) -> list[Path]:
    """Every .parquet file a directory-scanning reader would see (no hidden or _ part)."""
    return sorted(
        p
        for p in directory.rglob("*.parquet")
        if not any(part.startswith((".", "_")) for part in p.relative_to(directory).parts)
    )


def rows_of(directory: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in visible_parquet(directory))
