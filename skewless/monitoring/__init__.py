"""Drift monitoring: today's features and predictions against the training reference.

See docs/monitoring.md.
"""

from skewless.monitoring.drift import drift_report
from skewless.monitoring.report import ColumnDrift, Distribution, DriftReport, Quantiles

__all__ = ["ColumnDrift", "Distribution", "DriftReport", "Quantiles", "drift_report"]
