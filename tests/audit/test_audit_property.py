"""Property: a store materialized from any history audits clean, and any one corruption of
an online value is found, with its key among the examples."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from audit_repo import OBJECTS, T0, corrupt, h, stats, write_recent, write_stats
from embedded_store import embedded_store
from hypothesis import given, settings
from hypothesis import strategies as st

USERS = st.integers(min_value=1, max_value=6)
MINUTES = st.integers(min_value=-72 * 60, max_value=0)
FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e6, max_value=1e6)


@st.composite
def stats_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(min_value=1, max_value=15))):
        ts = T0 + timedelta(minutes=draw(MINUTES))
        rows.append(
            {
                "user_id": draw(USERS),
                "ts": ts,
                "created": draw(st.none() | st.just(ts)),
                "score": draw(st.none() | st.integers(-5, 5)),
                "amount": draw(st.none() | FLOATS),
                "ratio": draw(st.none() | st.floats(-10, 10, width=32)),
                "label": draw(st.none() | st.sampled_from(["a", "b"])),
                "weights": draw(st.none() | st.lists(st.none() | FLOATS, max_size=3)),
            }
        )
    return rows


@st.composite
def recent_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [
        {
            "user_id": draw(USERS),
            "ts": T0 + timedelta(minutes=draw(MINUTES)),
            "clicks": draw(st.none() | st.integers(0, 9)),
        }
        for _ in range(draw(st.integers(min_value=1, max_value=8)))
    ]


def wrong(value: Any, feature: str) -> Any:
    """A value of the same type that differs from ``value``."""
    if feature == "score":
        return 1 if value is None else value + 1
    if feature == "amount":
        return 7.5 if value is None else value * 2 + 1
    if feature == "label":
        return "z"
    return [0.5] if not value else [*value, 1.0]


@settings(max_examples=20, deadline=None)
@given(
    stats_history=stats_rows(),
    recent_history=recent_rows(),
    split=st.integers(min_value=-80, max_value=0),
    victim=st.data(),
    feature=st.sampled_from(["score", "amount", "label", "weights"]),
)
def test_materialized_histories_audit_clean_and_any_corruption_is_found(
    stats_history: list[dict[str, Any]],
    recent_history: list[dict[str, Any]],
    split: int,
    victim: st.DataObject,
    feature: str,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_stats(root, stats_history)
        write_recent(root, recent_history)
        with embedded_store(root, T0, project="audit") as store:
            store.apply(OBJECTS)
            store.materialize(h(-1000), h(split))  # then the rest, incrementally
            store.materialize_incremental(T0)
            clean = store.audit(sample=50)
            assert clean.ok, clean.render()
            users = {r["user_id"] for r in stats_history}
            compared = {f.ref: f.compared for f in clean.features}
            assert compared["stats:score"] == len(users)
            assert compared["recent:clicks"] == len({r["user_id"] for r in recent_history})

            user_id = victim.draw(st.sampled_from(sorted(users)))
            current = _online_value(store, user_id, feature)
            corrupt(store, stats, user_id, **{feature: wrong(current, feature)})
            report = store.audit(sample=50)
            assert not report.ok
            found = {f.ref: f for f in report.features}[f"stats:{feature}"]
            assert found.mismatches == 1
            assert [k for k, _, _ in found.examples] == [{"user_id": user_id}]


def _online_value(store: Any, user_id: int, feature: str) -> Any:
    response = store.get_online_features([f"stats:{feature}"], [{"user_id": user_id}])
    return response.to_dict()[feature][0]
