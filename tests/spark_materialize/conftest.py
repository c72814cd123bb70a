"""Fixtures for materialization from Spark: the run's one SparkSession and a Redis server.

The session is ``tests/spark_session.py``'s (``local[2]``, UTC, no UI): created on first use,
shared with every other Spark test of the run and never stopped here.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
from redis_server import clean_redis, redis_server  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def spark() -> Any:
    """The run's SparkSession (skips locally, fails on CI, when Spark cannot run)."""
    # Executors of a local master start Python workers: they must import skewless too.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from spark_session import spark_session

    return spark_session()
