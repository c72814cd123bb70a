"""A runnable example: synthetic e-commerce data, a scaffolded repository, a churn model.

Used by ``skewless init`` and ``skewless quickstart``.
"""

from skewless.demo.churn_model import (
    FEATURES,
    SKLEARN_HINT,
    ChurnModelReport,
    sklearn_available,
    train_churn_model,
)
from skewless.demo.data import CATEGORIES, EcommerceData, churn_probability, generate_ecommerce
from skewless.demo.scaffold import (
    DEFINITIONS_FILE,
    QUICKSTART_MARKER,
    Scaffold,
    is_quickstart_dir,
    project_name_for,
    scaffold_repo,
)

__all__ = [
    "CATEGORIES",
    "DEFINITIONS_FILE",
    "FEATURES",
    "QUICKSTART_MARKER",
    "SKLEARN_HINT",
    "ChurnModelReport",
    "EcommerceData",
    "Scaffold",
    "churn_probability",
    "generate_ecommerce",
    "is_quickstart_dir",
    "project_name_for",
    "scaffold_repo",
    "sklearn_available",
    "train_churn_model",
]
