"""What a compression measured: the original and the compressed version side by side.

The guide's table (size reduction and accuracy cost, measured): the size of each version's
artifacts, the p99 latency of single-row predictions, the metrics on a held-out dataset, and
how closely the compressed version's predictions follow the original's on the same rows.

Example:
    >>> before = VersionFigures(1, "original", 0.80, 0.50, {"f1": 0.84})
    >>> after = VersionFigures(2, "onnx-int8", 0.20, 0.05, {"f1": 0.83})
    >>> agreement = Agreement(rows=500, labels=0.998, max_abs_diff=0.03)
    >>> report = CompressionReport("churn", "classifier", before, after, agreement,
    ...                            rows_from="churn_holdout", dataset="churn_holdout")
    >>> round(report.size_reduction, 3), round(report.latency_change, 3)
    (0.75, -0.9)
    >>> round(report.metric_loss or 0.0, 4)
    0.01
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "HIGHER_IS_BETTER",
    "Agreement",
    "CompressionReport",
    "VersionFigures",
    "metric_loss",
]

HIGHER_IS_BETTER = frozenset({"f1", "precision", "recall", "auc"})
"""Metrics where a drop is a loss (for the others, rmse and mae, a rise is)."""


def metric_loss(metric: str, before: float | None, after: float | None) -> float | None:
    """How much worse ``after`` is than ``before`` (negative: better); None when unknown."""
    if before is None or after is None:
        return None
    return before - after if metric in HIGHER_IS_BETTER else after - before


@dataclass(frozen=True)
class VersionFigures:
    """One version's figures.

    Attributes:
        version: the version number.
        kind: ``original``, ``onnx`` or ``onnx-int8``.
        size_mb: the bytes of its logged artifacts, in MiB (the gate's ``size_mb``).
        p99_ms: p99 of single-row predictions (the gate's ``p99_ms``).
        metrics: the gate's quality metrics on the held-out dataset (empty without one).
    """

    version: int
    kind: str
    size_mb: float
    p99_ms: float | None
    metrics: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Agreement:
    """How the compressed version's predictions follow the original's, row by row.

    Attributes:
        rows: the rows compared.
        labels: the share of identical predicted classes (None for a regressor).
        max_abs_diff: the largest absolute difference of a probability (classifier) or of a
            prediction (regressor).
    """

    rows: int
    labels: float | None
    max_abs_diff: float


@dataclass(frozen=True)
class CompressionReport:
    """The outcome of :func:`~skewless.models.compress.compress_model`.

    Attributes:
        name: the registered model.
        task: ``classifier`` or ``regressor``.
        original: the figures of the version compressed.
        compressed: the figures of the new version.
        agreement: predictions compared on the same rows.
        rows_from: the dataset whose rows were predicted for latency and agreement.
        dataset: the held-out dataset of the metrics (None: no metrics).
        primary_metric: the metric the loss is of (f1 or rmse, as the gate's baseline check).
    """

    name: str
    task: str
    original: VersionFigures
    compressed: VersionFigures
    agreement: Agreement
    rows_from: str
    dataset: str | None = None
    primary_metric: str = ""

    def __post_init__(self) -> None:
        if not self.primary_metric:
            default = "f1" if self.task == "classifier" else "rmse"
            object.__setattr__(self, "primary_metric", default)

    @property
    def size_reduction(self) -> float:
        """``1 - compressed / original`` size (the guide's compression ratio)."""
        return 1.0 - self.compressed.size_mb / self.original.size_mb

    @property
    def latency_change(self) -> float | None:
        """``compressed / original - 1`` of the p99 (negative: faster)."""
        before, after = self.original.p99_ms, self.compressed.p99_ms
        if before is None or after is None or before <= 0:
            return None
        return after / before - 1.0

    @property
    def metric_loss(self) -> float | None:
        """The primary metric's loss (the gate's regression): None without a dataset."""
        m = self.primary_metric
        return metric_loss(m, self.original.metrics.get(m), self.compressed.metrics.get(m))

    def table(self) -> list[tuple[str, str, str, str]]:
        """Rows ``(measure, original, compressed, change)`` of the guide-style table."""

        def fmt(value: float | None, digits: int = 4) -> str:
            return "-" if value is None else f"{value:.{digits}g}"

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:+.1%}"

        o, c = self.original, self.compressed
        rows = [
            ("size_mb", fmt(o.size_mb), fmt(c.size_mb), pct(-self.size_reduction)),
            ("p99_ms", fmt(o.p99_ms), fmt(c.p99_ms), pct(self.latency_change)),
        ]
        for metric, before in o.metrics.items():
            loss = metric_loss(metric, before, c.metrics.get(metric))
            change = "-" if loss is None else f"loss {loss:+.4f}"
            rows.append((metric, fmt(before), fmt(c.metrics.get(metric)), change))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data, with the derived figures."""
        return {
            "name": self.name,
            "task": self.task,
            "original": asdict(self.original),
            "compressed": asdict(self.compressed),
            "agreement": asdict(self.agreement),
            "rows_from": self.rows_from,
            "dataset": self.dataset,
            "primary_metric": self.primary_metric,
            "size_reduction": self.size_reduction,
            "latency_change": self.latency_change,
            "metric_loss": self.metric_loss,
        }
