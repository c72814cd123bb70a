"""Applying on-demand views: plan-time checks, the registry round trip, repository loading."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from odfv_repo import SAMPLE, T0, make_store, spend_pd, spend_py, stats, tier_only, txn, user

from skewless import Field, on_demand_feature_view
from skewless.errors import DefinitionError
from skewless.repo import load_repo_objects
from skewless.types import Float64, Int64, String


@pytest.fixture
def root(tmp_path: Path) -> Path:
    from odfv_repo import write_stats

    write_stats(tmp_path, SAMPLE)
    return tmp_path


def _python(schema: list[Field], sources: list[Any] | None = None, mode: str = "python"):
    return on_demand_feature_view(
        sources=sources or [stats[["spend"]], txn], schema=schema, mode=mode, name="bad"
    )


def _raises(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    raise ZeroDivisionError("boom")


def _missing(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"other": inputs["spend"]}


def _extra(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"out": inputs["spend"], "more": inputs["spend"]}


def _text(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"out": [str(v) for v in inputs["spend"]]}


def _short(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"out": inputs["spend"][:1]}


def _not_a_frame(df: pd.DataFrame) -> Any:
    return df["spend"]


@pytest.mark.parametrize(
    ("udf", "mode", "message"),
    [
        (_raises, "python", "failed: ZeroDivisionError: boom"),
        (_missing, "python", "missing ['out'], not in its schema ['other']"),
        (_extra, "python", "missing [], not in its schema ['more']"),
        (_text, "python", "'bad:out' is declared Float64 but the function returned string"),
        (_short, "python", "returned 1 values for 3 rows"),
        (_not_a_frame, "pandas", "returned a Series; mode='pandas' functions return a DataFrame"),
    ],
)
def test_bad_functions_fail_at_plan_time(root: Path, udf: Any, mode: str, message: str) -> None:
    odfv = _python([Field(name="out", dtype=Float64)], mode=mode)(udf)
    store = make_store(root)
    with pytest.raises(DefinitionError) as info:
        store.apply([user, stats, odfv])
    assert "on-demand feature view 'bad'" in str(info.value) or "'bad:out'" in str(info.value)
    assert message in str(info.value)
    assert store.registry.version() == 0


def test_unknown_source_view_and_feature_fail_at_plan_time(root: Path) -> None:
    odfv = _python([Field(name="out", dtype=Float64)])(_text)
    store = make_store(root)
    with pytest.raises(DefinitionError, match="reads unknown feature view 'stats'"):
        store.apply([user, odfv])
    other = stats[["spend"]]
    object.__setattr__(other, "features", ("gone",))
    odfv = _python([Field(name="out", dtype=Float64)], sources=[other, txn])(_text)
    with pytest.raises(DefinitionError, match=r"reads feature\(s\) \['gone'\]"):
        store.apply([user, stats, odfv])


def test_output_named_like_an_input_is_refused(root: Path) -> None:
    odfv = _python([Field(name="spend", dtype=Float64)])(lambda d: {"spend": d["spend"]})
    with pytest.raises(DefinitionError, match=r"output\(s\) \['spend'\] have the name"):
        make_store(root).apply([user, stats, odfv])


def test_name_of_a_feature_view_is_refused(root: Path) -> None:
    odfv = on_demand_feature_view(
        sources=[txn], schema=[Field(name="out", dtype=Float64)], mode="python", name="stats"
    )(lambda d: {"out": d["amount"]})
    with pytest.raises(DefinitionError, match="has the name of a feature view"):
        make_store(root).apply([user, stats, odfv])


def test_int_output_is_accepted_as_float_and_reapply_changes_nothing(root: Path) -> None:
    def ints(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"out": [1 for _ in inputs["spend"]]}

    odfv = _python([Field(name="out", dtype=Float64)])(ints)
    store = make_store(root)
    store.apply([user, stats, odfv])
    assert store.plan([user, stats, odfv]).is_empty
    again = make_store(root)
    assert again.plan([user, stats, odfv]).is_empty


def test_changed_code_is_a_change(root: Path) -> None:
    def first(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"out": inputs["spend"]}

    def second(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"out": [None if v is None else -v for v in inputs["spend"]]}

    store = make_store(root)
    store.apply([user, stats, _python([Field(name="out", dtype=Float64)])(first)])
    plan = store.plan([_python([Field(name="out", dtype=Float64)])(second)])
    assert [(c.kind, c.name, c.action) for c in plan.changes] == [
        ("on_demand_feature_view", "bad", "change")
    ]
    assert "udf_source" in plan.changes[0].changed_fields


def test_fresh_store_reads_the_views_back_and_runs_them(root: Path) -> None:
    make_store(root).apply([user, stats, spend_py, spend_pd, tier_only])
    store = make_store(root)
    snapshot = store.registry.snapshot()
    assert sorted(snapshot.on_demand_feature_views) == ["spend_pd", "spend_py", "tier_only"]
    back = snapshot.get_on_demand_feature_view("spend_py")
    assert back.to_spec() == spend_py.to_spec()
    store.materialize(T0 - timedelta(days=3), T0)
    values = store.get_online_features(["tier_only:tier_upper"], {"user_id": [1, 2]}).to_dict()
    assert values == {"user_id": [1, 2], "tier_upper": ["GOLD", None]}


REPO_FILE = """
from datetime import timedelta

from skewless import Entity, FeatureView, Field, FileSource, RequestSource
from skewless import on_demand_feature_view
from skewless.types import Float64, Int64, String

from helpers import scale

user = Entity(name="user", join_keys=["user_id"])
stats = FeatureView(
    name="stats",
    entities=[user],
    ttl=timedelta(days=2),
    schema=[Field(name="spend", dtype=Float64), Field(name="orders", dtype=Int64),
            Field(name="tier", dtype=String)],
    source=FileSource(path="data/stats.parquet"),
)
req = RequestSource(name="req", schema=[Field(name="amount", dtype=Float64)])
OFFSET = 0.5


@on_demand_feature_view(sources=[stats[["spend"]], req],
                        schema=[Field(name="scaled", dtype=Float64)], mode="python")
def scaled(inputs):
    return {"scaled": [None if s is None or a is None else scale(s) * a + OFFSET
                       for s, a in zip(inputs["spend"], inputs["amount"])]}
"""


def test_repository_definitions_run_in_another_process(root: Path) -> None:
    (root / "helpers.py").write_text("def scale(value):\n    return value * 2\n")
    (root / "features.py").write_text(textwrap.dedent(REPO_FILE))
    objects = load_repo_objects(root)
    assert sorted(o.name for o in objects) == ["scaled", "stats", "user"]
    make_store(root).apply(objects, partial=False)
    make_store(root).materialize(T0 - timedelta(days=3), T0)
    # Another process, where neither features.py nor helpers.py is importable.
    code = textwrap.dedent(
        f"""
        import sys
        from datetime import datetime, timezone
        from pathlib import Path
        sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parent.parent)!r}]
        from odfv_repo import make_store
        store = make_store(Path({str(root)!r}))
        rows = {{"user_id": [1, 2, 3], "amount": [2.0, 1.0, 1.0]}}
        print(store.get_online_features(["scaled:scaled"], rows).to_dict())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'user_id': [1, 2, 3], 'scaled': [80.5, 0.5, None]}"


def test_string_outputs_and_types(root: Path) -> None:
    odfv = on_demand_feature_view(
        sources=[stats[["tier", "orders"]]],
        schema=[Field(name="label", dtype=String), Field(name="twice", dtype=Int64)],
        mode="pandas",
        name="labels",
    )(lambda df: pd.DataFrame({"label": df["tier"].str.upper(), "twice": df["orders"] * 2}))
    store = make_store(root)
    store.apply([user, stats, odfv])
    store.materialize(T0 - timedelta(days=3), T0)
    values = store.get_online_features(["labels:label", "labels:twice"], {"user_id": [1, 2]})
    assert values.to_dict() == {"user_id": [1, 2], "label": ["GOLD", None], "twice": [6, None]}
