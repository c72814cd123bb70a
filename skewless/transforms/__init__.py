"""Feature-engineering building blocks that give the same values offline and online.

Window statistics (:func:`rolling`, :func:`aggregations`) build the ``Aggregation`` lists of a
``BatchFeatureView``. The row functions (:func:`day_of_week`, :func:`hour_of_day`,
:func:`is_weekend`, :func:`safe_ratio`, :func:`trend_ratio`, :func:`bucketize`,
:func:`cross`) go inside on-demand feature views: each takes a value, a list of values
(``mode="python"``, None for null) or a pandas Series (``mode="pandas"``) and answers in the
same shape, with the same values for the same inputs in every shape.

Example:
    >>> from datetime import datetime, timezone
    >>> from skewless.transforms import bucketize, cross, day_of_week, safe_ratio
    >>> inputs = {"ts": [datetime(2024, 3, 2, tzinfo=timezone.utc)], "spend": [30.0],
    ...           "visits": [0], "age": [31], "gender": ["f"]}
    >>> day_of_week(inputs["ts"]), safe_ratio(inputs["spend"], inputs["visits"], default=0.0)
    ([5], [0.0])
    >>> cross(bucketize(inputs["age"], [0, 25, 35, 50, 100],
    ...                 labels=["young", "middle", "senior", "elder"]), inputs["gender"])
    ['middle_x_f']
"""

from __future__ import annotations

from skewless.transforms.calendar import day_of_week, hour_of_day, is_weekend
from skewless.transforms.categorical import cross, stable_hash
from skewless.transforms.numeric import bucketize, safe_ratio, trend_ratio
from skewless.transforms.windows import DEFAULT_WINDOWS, aggregations, rolling

__all__ = [
    "DEFAULT_WINDOWS",
    "aggregations",
    "bucketize",
    "cross",
    "day_of_week",
    "hour_of_day",
    "is_weekend",
    "rolling",
    "safe_ratio",
    "stable_hash",
    "trend_ratio",
]
