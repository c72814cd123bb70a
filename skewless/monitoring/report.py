"""The result of a drift comparison: one :class:`ColumnDrift` per column, and the whole.

``DriftReport.to_dict()`` is the stable, JSON-able form every consumer reads (the HTML report,
``skewless monitor --json``, the retraining trigger); its shape:

.. code-block:: text

    {
      "kind": "data" | "prediction",
      "drift_share": 0.5,             # share of drifted columns at which the dataset drifts
      "share_drifted": 0.25,
      "dataset_drift": false,
      "drifted_columns": ["amount", ...],
      "reference": {"name": "churn_train" | null, "rows": 1000000},
      "current": {"name": "churn@production 2026-12-01..2026-12-02" | null, "rows": 50000},
      "columns": {
        "amount": {
          "kind": "numerical" | "categorical",
          "test": "wasserstein" | "jensenshannon" | "ks" | "chisquare" | "z" | "psi" | "kl_div",
          "statistic": 0.13, "threshold": 0.1, "p_value": null | 0.003, "drifted": true,
          "reference_rows": 1000000, "current_rows": 50000,      # non-null rows compared
          "reference_nulls": 0, "current_nulls": 12,
          "new_categories": [], "missing_categories": [],           # categorical only
          "distribution": {                                          # for the pictures
            "bins": [edges...] | null,                               # numerical: bin edges
            "categories": [names...] | null,                         # categorical: names
            "reference": [shares...], "current": [shares...]         # one share per bin/category
          },
          "quantiles": {"q": [0.05, 0.25, 0.5, 0.75, 0.95],           # numerical only, else null
                        "reference": [...], "current": [...]} | null
        }, ...
      },
      "timeline": [{"day": "2026-12-01", "share_drifted": 0.1,
                    "columns": {"amount": {"statistic": 0.02, "drifted": false}}}, ...] | null
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = ["ColumnDrift", "Distribution", "DriftReport", "Quantiles"]

ColumnKind = Literal["numerical", "categorical"]


@dataclass(frozen=True)
class Distribution:
    """Shares of the reference and current rows per bin (numerical) or category."""

    reference: tuple[float, ...]
    current: tuple[float, ...]
    bins: tuple[float, ...] | None = None
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bins": list(self.bins) if self.bins is not None else None,
            "categories": list(self.categories) if self.categories is not None else None,
            "reference": list(self.reference),
            "current": list(self.current),
        }


@dataclass(frozen=True)
class Quantiles:
    """Quantiles ``q`` of the reference and the current values of a numerical column."""

    q: tuple[float, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"q": list(self.q), "reference": list(self.reference), "current": list(self.current)}


@dataclass(frozen=True)
class ColumnDrift:
    """How one column compares between the reference and the current data.

    Attributes:
        column: its name.
        kind: ``numerical`` or ``categorical`` (as the test treated it).
        test: the test's name (``wasserstein``, ``jensenshannon``, ``ks``, ...).
        statistic: the test's statistic (a distance, or the test statistic).
        threshold: the threshold it is compared with (a p-value threshold for p-value tests).
        p_value: the p-value, for tests that have one.
        drifted: whether the column drifted.
        reference_rows, current_rows: non-null rows compared.
        reference_nulls, current_nulls: null rows, counted and shown, never compared.
        new_categories: categories of the current data absent from the reference.
        missing_categories: reference categories absent from the current data.
        distribution: what the picture shows.
        quantiles: reference and current quantiles (numerical columns).
    """

    column: str
    kind: ColumnKind
    test: str
    statistic: float
    threshold: float
    p_value: float | None
    drifted: bool
    reference_rows: int
    current_rows: int
    reference_nulls: int = 0
    current_nulls: int = 0
    new_categories: tuple[str, ...] = ()
    missing_categories: tuple[str, ...] = ()
    distribution: Distribution | None = None
    quantiles: Quantiles | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "test": self.test,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference_nulls": self.reference_nulls,
            "current_nulls": self.current_nulls,
            "new_categories": list(self.new_categories),
            "missing_categories": list(self.missing_categories),
            "distribution": self.distribution.to_dict() if self.distribution else None,
            "quantiles": self.quantiles.to_dict() if self.quantiles else None,
        }


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift and the verdict on the whole (see the module docstring for
    :meth:`to_dict`'s shape).

    Attributes:
        columns: column name -> its :class:`ColumnDrift`, in comparison order.
        drift_share: the share of drifted columns at which the dataset counts as drifted.
        kind: ``data`` (features) or ``prediction`` (predictions, probabilities).
        reference_name, current_name: what was compared, for the report's title.
        reference_rows, current_rows: rows of each side.
        timeline: per-day drift over a window, when the current data spans days.
    """

    columns: Mapping[str, ColumnDrift]
    drift_share: float = 0.5
    kind: Literal["data", "prediction"] = "data"
    reference_name: str | None = None
    current_name: str | None = None
    reference_rows: int = 0
    current_rows: int = 0
    timeline: tuple[dict[str, Any], ...] | None = field(default=None)

    @property
    def drifted_columns(self) -> list[str]:
        """The names of the drifted columns, in comparison order."""
        return [name for name, c in self.columns.items() if c.drifted]

    @property
    def share_drifted(self) -> float:
        """Drifted columns / columns compared (0 when none were compared)."""
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Whether at least ``drift_share`` of the columns drifted."""
        return bool(self.columns) and self.share_drifted >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "drift_share": self.drift_share,
            "share_drifted": self.share_drifted,
            "dataset_drift": self.dataset_drift,
            "drifted_columns": self.drifted_columns,
            "reference": {"name": self.reference_name, "rows": self.reference_rows},
            "current": {"name": self.current_name, "rows": self.current_rows},
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
            "timeline": list(self.timeline) if self.timeline is not None else None,
        }

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY).decode()

    def save_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML file (opens offline); its path."""
        from skewless.monitoring.html import render_html

        target = Path(path)
        target.write_text(render_html(self.to_dict()), encoding="utf-8")
        return target
