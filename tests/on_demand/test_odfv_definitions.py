"""On-demand feature view definitions: validation, the decorator and the stored spec."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from odfv_repo import spend_pd, spend_py, stats, txn

from skewless import Field, OnDemandFeatureView, RequestSource, on_demand_feature_view
from skewless.definitions import definition_hash, from_spec, kind_of
from skewless.definitions.on_demand import comparable_spec
from skewless.errors import DefinitionError
from skewless.types import Float64, Int64


def _identity(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"out": inputs["amount"]}


def test_decorator_builds_the_view() -> None:
    assert isinstance(spend_py, OnDemandFeatureView)
    assert spend_py.name == "spend_py" and spend_py.mode == "python"
    assert spend_py.feature_names == ("share", "big")
    assert [p.view_name for p in spend_py.sources] == ["stats"]
    assert spend_py.request_sources == (txn,)
    assert "Share of the request amount" in spend_py.description
    assert "def spend_py" in spend_py.udf_source
    assert kind_of(spend_py) == "on_demand_feature_view"
    # The decorated object still runs the function.
    assert spend_py({"amount": [4.0], "spend": [8.0], "orders": [1]}) == {
        "share": [0.5],
        "big": [1],
    }


def test_name_tags_and_owner_are_kept() -> None:
    odfv = on_demand_feature_view(
        sources=[txn],
        schema=[Field(name="out", dtype=Float64)],
        mode="python",
        name="renamed",
        tags={"team": "risk"},
        owner="risk@example.com",
        description="copy",
    )(_identity)
    assert (odfv.name, odfv.tags, odfv.owner, odfv.description) == (
        "renamed",
        {"team": "risk"},
        "risk@example.com",
        "copy",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "spark"}, "mode 'spark' is unknown"),
        ({"sources": []}, "has no sources"),
        ({"sources": ["stats"]}, "is not a FeatureView"),
        ({"schema": []}, "has no schema"),
        ({"schema": [Field(name="out", dtype=Int64)] * 2}, "declares output(s) ['out'] twice"),
        (
            {"sources": [txn, RequestSource(name="again", schema=txn.schema)]},
            "input column(s) ['amount'] come from more than one source",
        ),
        ({"name": "bad name"}, "is not a valid name"),
    ],
)
def test_invalid_definitions_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "sources": [stats[["spend"]], txn],
        "schema": [Field(name="out", dtype=Float64)],
        "mode": "python",
    }
    args.update(kwargs)
    with pytest.raises(DefinitionError) as info:
        on_demand_feature_view(**args)(_identity)
    assert message in str(info.value)


def test_request_source_needs_a_schema() -> None:
    with pytest.raises(DefinitionError, match="has no schema"):
        RequestSource(name="empty", schema=[])


def test_unknown_projection_feature_is_refused() -> None:
    with pytest.raises(DefinitionError, match="no feature"):
        spend_py[["nope"]]
    assert spend_py[["share"]].refs == ["spend_py:share"]


def test_spec_round_trip_runs_the_same_function() -> None:
    for odfv in (spend_py, spend_pd):
        spec = odfv.to_spec()
        back = from_spec("on_demand_feature_view", spec)
        assert isinstance(back, OnDemandFeatureView)
        assert back.to_spec() == spec
        assert back == odfv
    data = {"amount": [3.0, None], "spend": [6.0, 1.0], "orders": [1, 1]}
    rebuilt = from_spec("on_demand_feature_view", spend_py.to_spec())
    assert isinstance(rebuilt, OnDemandFeatureView)
    assert rebuilt.udf(data) == spend_py.udf(data)


def _define(root: Path, body: str) -> dict[str, Any]:
    """Import a file defining ``odfv`` in a fresh process and return its spec."""
    (root / "defs.py").write_text(
        textwrap.dedent(
            """
            from skewless import Field, RequestSource, on_demand_feature_view
            from skewless.types import Float64

            req = RequestSource(name="req", schema=[Field(name="x", dtype=Float64)])
            FACTOR = 3.0

            @on_demand_feature_view(sources=[req], schema=[Field(name="y", dtype=Float64)],
                                    mode="python")
            def odfv(inputs):
            """
        )
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import defs; "
        "print(json.dumps(defs.odfv.to_spec()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    )
    import json

    spec: dict[str, Any] = json.loads(out.stdout)
    return spec


def test_hash_follows_the_code_not_the_pickle(tmp_path: Path) -> None:
    body = 'return {"y": [None if v is None else v * FACTOR for v in inputs["x"]]}\n'
    first = _define(tmp_path, body)
    again = _define(tmp_path, body)
    changed = _define(tmp_path, body.replace("v * FACTOR", "v * FACTOR + 1"))
    assert comparable_spec(first) == comparable_spec(again)
    assert definition_hash(comparable_spec(first)) != definition_hash(comparable_spec(changed))
    assert definition_hash(first) != definition_hash(changed)
    # The stored function runs here although the file's module was never imported here.
    odfv = from_spec("on_demand_feature_view", first)
    assert isinstance(odfv, OnDemandFeatureView)
    assert "defs" not in sys.modules
    assert odfv.udf({"x": [2.0, None]}) == {"y": [6.0, None]}
