"""Drift monitoring: today's features and predictions against the training reference.

See docs/monitoring.md.
"""

from skewless.monitoring.drift import drift_report
from skewless.monitoring.profile import ColumnProfile, Histogram, Profile
from skewless.monitoring.profile_build import build_profile
from skewless.monitoring.profile_store import dataset_profile, reprofile_dataset
from skewless.monitoring.report import ColumnDrift, Distribution, DriftReport, Quantiles

__all__ = [
    "ColumnDrift",
    "ColumnProfile",
    "Distribution",
    "DriftReport",
    "Histogram",
    "Profile",
    "Quantiles",
    "build_profile",
    "dataset_profile",
    "drift_report",
    "reprofile_dataset",
]
