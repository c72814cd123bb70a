"""Synthetic e-commerce history for the scaffolded repository and the quickstart.

Users log in and buy on a daily schedule; a share of them drift away (their login and
purchase rates decay from a random day on). Once a day each user's running statistics are
snapshotted, which is the ``user_stats`` source. Churn labels are drawn at random moments
between snapshots, with a churn probability that depends on the user's statistics *as of that
moment*: a point-in-time join recovers the signal, a join on today's values leaks the future.

>>> from datetime import UTC, datetime
>>> data = generate_ecommerce(n_users=20, n_days=10, end=datetime(2024, 5, 1, tzinfo=UTC))
>>> data.user_stats.num_rows, data.labels.num_rows
(200, 80)
>>> data.user_stats.column_names[:3]
['user_id', 'event_timestamp', 'created']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skewless._time import to_utc

__all__ = [
    "CATEGORIES",
    "FIRST_USER_ID",
    "EcommerceData",
    "churn_probability",
    "generate_ecommerce",
]

CATEGORIES = ("electronics", "fashion", "home", "books", "sports", "beauty")
_CATEGORY_WEIGHTS = (0.22, 0.24, 0.18, 0.12, 0.14, 0.10)
# Category effect on churn (log-odds): fashion and beauty shoppers come back less often.
_CATEGORY_CHURN = np.array([-0.2, 0.25, -0.1, -0.3, 0.0, 0.3])
FIRST_USER_ID = 1001
_TS = pa.timestamp("us", tz="UTC")
_DAY_US = 86_400_000_000
_MINUTE_US = 60_000_000


@dataclass(frozen=True)
class EcommerceData:
    """The generated tables.

    Attributes:
        user_stats: one row per user and day: ``user_id``, ``event_timestamp``, ``created``,
            ``total_purchases`` (int64), ``avg_purchase_amount`` (float32, null before a first
            purchase), ``days_since_last_login`` (int64), ``preferred_category`` (string).
        labels: ``user_id``, ``event_timestamp``, ``churned`` (int64 0/1), in time order.
        n_users: number of users.
        n_days: number of daily snapshots per user.
        end: the last moment of the history (every timestamp is at or before it).
    """

    user_stats: pa.Table
    labels: pa.Table
    n_users: int
    n_days: int
    end: datetime

    def write(self, data_dir: str | Path) -> tuple[Path, Path]:
        """Write ``user_stats.parquet`` and ``churn_labels.parquet`` into ``data_dir``."""
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stats_path, labels_path = folder / "user_stats.parquet", folder / "churn_labels.parquet"
        pq.write_table(self.user_stats, stats_path, row_group_size=100_000)
        pq.write_table(self.labels, labels_path)
        return stats_path, labels_path

    @property
    def churn_rate(self) -> float:
        """Share of labels that are churned."""
        churned = self.labels.column("churned").to_numpy()
        return float(churned.mean()) if len(churned) else 0.0


def churn_probability(
    days_since_last_login: np.ndarray,
    total_purchases: np.ndarray,
    avg_purchase_amount: np.ndarray,
    category_index: np.ndarray,
) -> np.ndarray:
    """Probability that a user churns, given their statistics at the label's moment.

    Long absences raise it; many purchases and a high average basket lower it. A missing
    average (no purchase yet) counts as a small basket.
    """
    absence = np.minimum(days_since_last_login, 30).astype(np.float64)
    purchases = np.log1p(total_purchases.astype(np.float64))
    basket = np.nan_to_num(avg_purchase_amount.astype(np.float64), nan=10.0)
    logit = (
        -0.9
        + 0.28 * absence
        - 0.55 * purchases
        - 0.012 * (basket - 40.0)
        + _CATEGORY_CHURN[category_index]
    )
    return 1.0 / (1.0 + np.exp(-logit))


def generate_ecommerce(
    n_users: int = 5_000,
    n_days: int = 60,
    end: datetime | None = None,
    labels_per_user: int = 4,
    seed: int = 7,
) -> EcommerceData:
    """Simulate ``n_days`` of daily user snapshots ending at ``end`` (default: now), and labels.

    Every user is snapshotted once a day at their own minute (5 to 120 minutes before the
    day's mark), and the snapshot's ``created`` time lies between the snapshot and ``end``.
    Labels fall 1 to 22 hours after one of a user's snapshots (never after the next one, and
    never on the first week), so a view with a TTL of a day or more covers every label.

    Args:
        n_users: number of users (ids start at 1001).
        n_days: number of daily snapshots; at least 9 when labels are wanted.
        end: the end of the history; naive means UTC. Defaults to the wall clock.
        labels_per_user: churn labels drawn per user.
        seed: random seed; the same arguments give the same tables.
    """
    if n_users < 1 or n_days < 1:
        raise ValueError("n_users and n_days must be at least 1")
    if labels_per_user and n_days < 9:
        raise ValueError("labels need at least 9 days of history (n_days >= 9)")
    end_time = to_utc(end or datetime.now(UTC)).replace(microsecond=0)
    rng = np.random.default_rng(seed)
    users = np.arange(FIRST_USER_ID, FIRST_USER_ID + n_users, dtype=np.int64)
    category = rng.choice(len(CATEGORIES), size=n_users, p=_CATEGORY_WEIGHTS)

    state = _simulate(rng, n_users, n_days)
    offsets_min = rng.integers(5, 121, size=n_users)
    end_us = int((end_time - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    day_marks = end_us - (n_days - 1 - np.arange(n_days, dtype=np.int64)) * _DAY_US
    event_us = day_marks[:, None] - offsets_min[None, :] * _MINUTE_US  # (days, users)
    delay_us = (rng.random((n_days, n_users)) * offsets_min[None, :] * _MINUTE_US).astype(np.int64)
    created_us = event_us + delay_us

    user_stats = pa.table(
        {
            "user_id": pa.array(np.tile(users, n_days), pa.int64()),
            "event_timestamp": pa.array(event_us.ravel(), _TS),
            "created": pa.array(created_us.ravel(), _TS),
            "total_purchases": pa.array(state.purchases.ravel(), pa.int64()),
            "avg_purchase_amount": pa.array(
                state.avg_amount.ravel(), pa.float32(), from_pandas=True
            ),
            "days_since_last_login": pa.array(state.days_since_login.ravel(), pa.int64()),
            "preferred_category": pa.array(
                np.array(CATEGORIES, dtype=object)[np.tile(category, n_days)], pa.string()
            ),
        }
    )
    labels = _draw_labels(rng, state, users, category, event_us, labels_per_user)
    return EcommerceData(user_stats, labels, n_users, n_days, end_time)


@dataclass(frozen=True)
class _History:
    """Per (day, user) statistics as of each daily snapshot."""

    purchases: np.ndarray
    avg_amount: np.ndarray
    days_since_login: np.ndarray


def _simulate(rng: np.random.Generator, n_users: int, n_days: int) -> _History:
    engagement = rng.beta(2.0, 2.5, size=n_users)
    login_rate = 0.04 + 0.85 * engagement
    buy_rate = 0.05 + 0.5 * engagement  # purchases per active day
    basket = rng.lognormal(mean=3.5, sigma=0.45, size=n_users)  # a user's typical basket
    # A third of the users drift away from a random day on: their rates decay day by day.
    fades = rng.random(n_users) < 0.35
    fade_start = rng.integers(0, max(n_days, 1), size=n_users)
    fade_speed = rng.uniform(0.05, 0.35, size=n_users)

    purchases = rng.poisson(engagement * 25).astype(np.int64)
    spent = purchases * basket * rng.lognormal(0.0, 0.15, size=n_users)
    days_since = np.minimum(rng.geometric(login_rate) - 1, 60).astype(np.int64)

    out_purchases = np.empty((n_days, n_users), np.int64)
    out_avg = np.empty((n_days, n_users), np.float64)
    out_days = np.empty((n_days, n_users), np.int64)
    for day in range(n_days):
        decay = np.where(fades & (day >= fade_start), np.exp(-fade_speed * (day - fade_start)), 1)
        logged_in = rng.random(n_users) < login_rate * decay
        days_since = np.where(logged_in, 0, days_since + 1)
        bought = rng.poisson(buy_rate * decay) * logged_in
        spent += bought * basket * rng.lognormal(0.0, 0.25, size=n_users)
        purchases += bought
        out_purchases[day] = purchases
        with np.errstate(invalid="ignore", divide="ignore"):
            out_avg[day] = np.where(purchases > 0, spent / np.maximum(purchases, 1), np.nan)
        out_days[day] = days_since
    return _History(out_purchases, out_avg, out_days)


def _draw_labels(
    rng: np.random.Generator,
    state: _History,
    users: np.ndarray,
    category: np.ndarray,
    event_us: np.ndarray,
    per_user: int,
) -> pa.Table:
    n_days, n_users = event_us.shape
    if per_user <= 0:
        day = np.empty(0, np.int64)
        who = np.empty(0, np.int64)
    else:
        who = np.repeat(np.arange(n_users), per_user)
        day = rng.integers(7, n_days - 1, size=who.size)  # a snapshot with a next one after it
    hours_after = rng.uniform(1.0, 22.0, size=who.size)
    label_us = event_us[day, who] + (hours_after * 3_600_000_000).astype(np.int64)
    prob = churn_probability(
        state.days_since_login[day, who],
        state.purchases[day, who],
        state.avg_amount[day, who],
        category[who],
    )
    churned = (rng.random(who.size) < prob).astype(np.int64)
    order = np.argsort(label_us, kind="stable")
    return pa.table(
        {
            "user_id": pa.array(users[who][order], pa.int64()),
            "event_timestamp": pa.array(label_us[order], _TS),
            "churned": pa.array(churned[order], pa.int64()),
        }
    )
