"""The one SparkSession of a test run (local[2], UI off, 2 shuffle partitions).

Every Spark test asks :func:`spark_session` for it, so the JVM starts once per run. Without
PySpark or Java the Spark tests skip locally, with the reason; on CI (``CI`` set) they fail,
since the test command installs both.
"""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SPARK_CONF", "spark_session"]

SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.enabled": "false",
}
_session: SparkSession | None = None
_missing: str | None = None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Spark tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(f"Spark tests skipped: {reason}")


def spark_session() -> SparkSession:
    """The shared session, created on first use (skips or fails when Spark cannot run)."""
    global _session, _missing
    if _session is not None:
        return _session
    if _missing is None:
        try:
            from skewless.offline.spark.session import build_session

            _session, _ = build_session("local[2]", SPARK_CONF)
            atexit.register(_session.stop)
        except Exception as exc:  # pyspark missing, no Java, JVM failed to start
            _missing = str(exc)
    if _session is None:
        _unavailable(_missing or "the SparkSession did not start")
    assert _session is not None
    return _session
