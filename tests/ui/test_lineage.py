"""The lineage graph and impact over a hand-built repository: a view feeding two services (one
taking only some of its features) and an on-demand view, a dataset, an MLflow model version
with the production alias, and an experiment on it."""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from skewless.cli.main import app
from skewless.errors import UnknownObjectError
from skewless.lineage import build_graph, impact, lineage_inputs, node_id
from skewless.ui.factory import ui_sources_for
from ui.ui_repo import UiRepo


@pytest.fixture(scope="module")
def graph(ui_repo: UiRepo):  # type: ignore[no-untyped-def]
    sources = ui_sources_for(ui_repo.root)
    inputs = lineage_inputs(sources.registry, sources.datasets, sources.tracking, sources.root)
    return build_graph(inputs)


def test_the_chain_from_source_to_experiment(graph) -> None:  # type: ignore[no-untyped-def]
    chain = [
        node_id("source", "data/user_stats.parquet"),
        node_id("feature_view", "user_stats"),
        node_id("feature_service", "scoring"),
        node_id("dataset", "churn_train"),
        node_id("model_version", "churn/1"),
        node_id("alias", "churn@production"),
        node_id("experiment", "churn-ab"),
    ]
    edges = {(e.source, e.target) for e in graph.edges}
    for upstream, downstream in itertools.pairwise(chain):
        assert (upstream, downstream) in edges
    assert (node_id("model_version", "churn/1"), node_id("experiment", "churn-ab")) in edges
    assert (node_id("push_source", "clicks_push"), node_id("feature_view", "clicks")) in edges
    around = graph.around(node_id("dataset", "churn_train"))
    assert node_id("feature_view", "clicks") not in around.nodes
    assert node_id("source", "data/user_stats.parquet") in around.nodes


def test_impact_follows_only_the_edges_carrying_the_feature(graph) -> None:  # type: ignore[no-untyped-def]
    x1 = impact(graph, "user_stats:x1")
    assert x1.on_demand_views == ("x_total",)
    assert x1.services == ("derived", "scoring")  # not visits_only
    assert x1.datasets == ("churn_train",)
    assert x1.model_versions == ("churn/1",)
    assert x1.aliases == ("churn@production",)
    assert x1.experiments == ("churn-ab",)
    visits = impact(graph, "user_stats:visits")
    assert visits.services == ("scoring", "visits_only")
    assert visits.on_demand_views == ()
    x3 = impact(graph, "user_stats:x3")
    assert x3.services == ("scoring",) and x3.model_versions == ("churn/1",)
    whole = impact(graph, "user_stats")
    assert set(whole.refs) == {
        "user_stats:x1",
        "user_stats:x2",
        "user_stats:x3",
        "user_stats:visits",
    }
    assert set(whole.services) == {"scoring", "visits_only", "derived"}
    assert impact(graph, "clicks").empty
    assert impact(graph, "x_total:x_sum").services == ("derived",)


def test_unknown_features_are_one_clear_error(graph) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownObjectError, match="has no feature 'nope'"):
        impact(graph, "user_stats:nope")
    with pytest.raises(UnknownObjectError, match="no feature view or on-demand view named"):
        impact(graph, "ghost:x")


def test_lineage_command(ui_repo: UiRepo) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--repo", str(ui_repo.root), "lineage", "user_stats:x1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert data["services"] == ["derived", "scoring"]
    assert data["model_versions"] == ["churn/1"] and data["aliases"] == ["churn@production"]
    table = runner.invoke(app, ["--repo", str(ui_repo.root), "lineage", "user_stats:visits"])
    assert table.exit_code == 0 and "visits_only" in table.stdout and "churn/1" in table.stdout
    bad = runner.invoke(app, ["--repo", str(ui_repo.root), "lineage", "user_stats:nope"])
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines() == [
        "error: feature view 'user_stats' has no feature 'nope' (features: x1, x2, x3, visits)"
    ]
