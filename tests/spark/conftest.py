"""Spark-specific tests share the run's one SparkSession (``tests/spark_session.py``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from spark_session import spark_session

# The offline suite's data builders (offline_data) serve these tests too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "offline"))

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """The shared local[2] session (skips locally, fails on CI, when Spark cannot run)."""
    return spark_session()
