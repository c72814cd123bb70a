"""On-demand parity: offline at T == online at now=T == a plain-Python reference, both modes.

Random source rows for the view the on-demand views read, random request data, a random TTL
and time T; the view is materialized over [T - ttl, T] (all history when unbounded).
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from odfv_repo import T0, make_store, spend_pd, spend_py, stats, user, write_stats
from reference import RefView, point_in_time

TIMES = [T0 + timedelta(hours=h) for h in range(8)]
KEYS = [1, 2, 3, 4]

rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from(KEYS[:3]),
            "ts": st.sampled_from(TIMES),
            "spend": st.one_of(st.none(), st.just(0.0), st.floats(-50, 50, allow_nan=False)),
            "orders": st.one_of(st.none(), st.integers(-3, 20)),
            "tier": st.none(),
        }
    ),
    max_size=20,
)
amounts = st.lists(
    st.one_of(st.none(), st.floats(-100, 100, allow_nan=False)),
    min_size=len(KEYS),
    max_size=len(KEYS),
)


def reference(spend: Any, orders: Any, amount: Any) -> tuple[Any, Any]:
    """``share`` and ``big`` as the definitions describe them, one row at a time."""
    share = amount / spend if amount is not None and spend else None
    big = None if orders is None or amount is None else int(amount > 2 * orders)
    return share, big


@settings(max_examples=40)
@given(
    data=rows,
    amount=amounts,
    ttl=st.sampled_from([None, timedelta(hours=2)]),
    t=st.sampled_from(TIMES),
)
def test_offline_online_and_reference_agree(data, amount, ttl, t) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_stats(root, data)
        store = make_store(root, now=t)
        view = stats if ttl == stats.ttl else _with_ttl(ttl)
        store.apply([user, view, spend_py, spend_pd])
        store.materialize((t - ttl) if ttl else TIMES[0] - timedelta(days=1), t)

        refs = ["spend_py:share", "spend_py:big", "spend_pd:share", "spend_pd:big"]
        entity = pa.table(
            {
                "user_id": KEYS,
                "event_timestamp": pa.array([t] * len(KEYS), pa.timestamp("us", "UTC")),
                "amount": pa.array(amount, pa.float64()),
            }
        )
        offline = store.get_historical_features(entity, refs, full_feature_names=True)
        offline_rows = offline.to_arrow().to_pylist()
        online = store.get_online_features(
            refs, {"user_id": KEYS, "amount": amount}, full_feature_names=True
        ).to_dict()

        ref_view = RefView("stats", ("user_id",), ("spend", "orders"), ttl, data)
        expected = point_in_time(
            entity.to_pylist(), [(ref_view, ("spend", "orders"), ("spend", "orders"))]
        )
        for i, row in enumerate(expected):
            share, big = reference(row["spend"], row["orders"], row["amount"])
            for mode in ("spend_py", "spend_pd"):
                got = (
                    offline_rows[i][f"{mode}__share"],
                    offline_rows[i][f"{mode}__big"],
                    online[f"{mode}__share"][i],
                    online[f"{mode}__big"][i],
                )
                assert got == (share, big, share, big), (i, mode, row, got)
        store.close()


def _with_ttl(ttl: timedelta | None):
    from skewless import FeatureView

    return FeatureView(
        name=stats.name,
        entities=list(stats.entities),
        ttl=ttl,
        schema=list(stats.schema),
        source=stats.source,
    )
