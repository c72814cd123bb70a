"""Drift monitoring: today's features, predictions and accuracy against the training reference.

See docs/monitoring.md and docs/performance-monitoring.md.
"""

from skewless.monitoring.drift import drift_report
from skewless.monitoring.labels import join_labels, label_counts
from skewless.monitoring.log_window import LogWindow
from skewless.monitoring.monitor import MonitorContext, MonitorResult, monitor_model
from skewless.monitoring.performance import (
    DEFAULT_THRESHOLDS,
    PerformanceAlert,
    PerformanceReport,
    WindowPerformance,
    performance_report,
)
from skewless.monitoring.profile import ColumnProfile, Histogram, Profile
from skewless.monitoring.profile_build import build_profile
from skewless.monitoring.profile_store import dataset_profile, reprofile_dataset
from skewless.monitoring.report import ColumnDrift, Distribution, DriftReport, Quantiles

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ColumnDrift",
    "ColumnProfile",
    "Distribution",
    "DriftReport",
    "Histogram",
    "LogWindow",
    "MonitorContext",
    "MonitorResult",
    "PerformanceAlert",
    "PerformanceReport",
    "Profile",
    "Quantiles",
    "WindowPerformance",
    "build_profile",
    "dataset_profile",
    "drift_report",
    "join_labels",
    "label_counts",
    "monitor_model",
    "performance_report",
    "reprofile_dataset",
]
