"""tests/test_parity.py's property with the Spark offline engine (docs/semantics.md "Parity").

Materialization reads the latest rows per key through Spark and the point-in-time side runs
on Spark too; online values and statuses must still be the reference's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import example, given, settings
from offline_engines import SPARK_MAX_EXAMPLES
from test_parity import EVERY_STATUS, TIMES, TTLS, check_parity, scenarios

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.slow


@settings(max_examples=SPARK_MAX_EXAMPLES)
@example(data=EVERY_STATUS, ttl=TTLS[2], t=TIMES[10], cuts=[3], lead=3, reverse=True)
@given(**scenarios)
def test_parity_with_spark(spark: SparkSession, data, ttl, t, cuts, lead, reverse) -> None:
    check_parity({"type": "sqlite"}, data, ttl, t, cuts, lead, reverse, {"type": "spark"})
