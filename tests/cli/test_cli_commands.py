"""Every command of the ``skewless`` CLI, in-process through Typer's runner."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from skewless import FeatureStore
from skewless.config import load_config
from skewless.registry import Registry


def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in (
        "init",
        "plan",
        "apply",
        "list",
        "describe",
        "search",
        "materialize",
        "materialize-incremental",
        "quickstart",
    ):
        assert re.search(rf"^\s+{re.escape(command)}\s", result.stdout, re.M), command
    assert "--repo" in result.stdout and "--debug" in result.stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert re.fullmatch(r"skewless \d+\.\d+\.\d+\S*\n", result.stdout)


def test_init_scaffolds_a_repository_with_fresh_data(tmp_path: Path, cli):
    before = datetime.now(UTC)
    result = cli("--repo", tmp_path, "init", "my-shop")
    assert result.exit_code == 0, result.output
    root = tmp_path / "my-shop"
    assert str(root) in result.stdout
    config = load_config(root)
    assert config.project == "my_shop"
    assert config.online_store.type == "sqlite" and config.offline_store.type == "duckdb"
    assert (root / "features.py").is_file()
    stats = pq.read_table(root / "data" / "user_stats.parquet")
    assert stats.num_rows == 500 * 30
    newest = stats.column("event_timestamp").to_pylist()
    assert before - timedelta(hours=3) < max(newest) <= datetime.now(UTC)
    labels = pq.read_table(root / "data" / "churn_labels.parquet")
    assert labels.column_names == ["user_id", "event_timestamp", "churned"]


def test_init_refuses_an_existing_directory(tmp_path: Path, cli, error_line):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    line = error_line(cli("--repo", tmp_path, "init", "taken"))
    assert "already exists" in line and str(target) in line
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"


def test_init_accepts_an_empty_directory(tmp_path: Path, cli):
    (tmp_path / "empty").mkdir()
    result = cli("--repo", tmp_path, "init", "empty")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "feature_store.yaml").is_file()


def test_plan_shows_the_diff_and_writes_nothing(repo: Path, cli):
    result = cli("-r", repo, "plan")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "+ entity user (new)",
        "+ feature_view user_stats (new)",
        "+ feature_service churn_model_v1 (new)",
    ]
    assert Registry(load_config(repo)).version() == 0
    assert not (repo / "data" / "registry.db").exists()


def test_apply_then_reapply_then_change_then_remove(repo: Path, cli):
    first = cli("-r", repo, "apply")
    assert first.exit_code == 0, first.output
    assert "+ feature_view user_stats (new)" in first.stdout
    assert "Applied 3 changes" in first.stdout
    assert {v.name for v in FeatureStore(repo).list_feature_views()} == {"user_stats"}

    again = cli("-r", repo, "apply")
    assert again.exit_code == 0
    assert again.stdout.strip() == "No changes."

    definitions = repo / "features.py"
    definitions.write_text(
        definitions.read_text().replace("ttl=timedelta(days=2)", "ttl=timedelta(days=3)")
    )
    plan = cli("-r", repo, "plan")
    assert plan.stdout.splitlines()[0] == (
        "~ feature_view user_stats: ttl (online data will be reset)"
    )
    changed = cli("-r", repo, "apply")
    assert changed.exit_code == 0 and "Applied 1 change " in changed.stdout
    assert FeatureStore(repo).get_feature_view("user_stats").ttl == timedelta(days=3)

    text = definitions.read_text()
    definitions.write_text(text[: text.index("churn_model_v1 = FeatureService(")])
    removed = cli("-r", repo, "apply")
    assert removed.exit_code == 0, removed.output
    assert "- feature_service churn_model_v1 (removed)" in removed.stdout
    assert FeatureStore(repo).list_feature_services() == []


def test_list_shows_tables_of_each_kind(applied_repo: Path, cli):
    everything = cli("-r", applied_repo, "list")
    assert everything.exit_code == 0, everything.output
    for text in ("Entities", "Feature views", "Feature services", "user_stats", "churn_model_v1"):
        assert text in everything.stdout
    assert "user_id" in everything.stdout and "2d" in everything.stdout

    views = cli("-r", applied_repo, "list", "feature-views")
    assert views.exit_code == 0
    assert "Feature views" in views.stdout and "Entities" not in views.stdout
    assert "total_purchases, avg_purchase_amount" in views.stdout


def test_list_before_apply_says_so(repo: Path, cli):
    result = cli("-r", repo, "list")
    assert result.exit_code == 0
    assert "Nothing is registered yet" in result.stdout


def test_list_rejects_an_unknown_kind_as_usage_error(applied_repo: Path, cli):
    assert cli("-r", applied_repo, "list", "models").exit_code == 2


def test_describe_shows_definition_and_history(applied_repo: Path, cli):
    definitions = applied_repo / "features.py"
    definitions.write_text(
        definitions.read_text().replace("ttl=timedelta(days=2)", "ttl=timedelta(hours=36)")
    )
    assert cli("-r", applied_repo, "apply").exit_code == 0
    result = cli("-r", applied_repo, "describe", "user_stats")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "feature view user_stats" in out
    assert "total_purchases: Int64" in out and "preferred_category: String" in out
    assert "36h" in out and "data/user_stats.parquet" in out
    assert "never (run `skewless materialize`)" in out
    history = out[out.index("History") :]
    assert re.search(r"^\W*1\W.*created", history, re.M), history
    assert re.search(r"^\W*2\W.*\bttl\b", history, re.M), history


def test_describe_an_entity_and_a_service(applied_repo: Path, cli):
    entity = cli("-r", applied_repo, "describe", "user")
    assert entity.exit_code == 0 and "entity user" in entity.stdout
    assert "user_id" in entity.stdout
    service = cli("-r", applied_repo, "describe", "churn_model_v1", "--kind", "feature-service")
    assert service.exit_code == 0 and "feature service churn_model_v1" in service.stdout
    assert "view user_stats" in service.stdout


def test_describe_a_removed_object_keeps_its_history(applied_repo: Path, cli):
    definitions = applied_repo / "features.py"
    text = definitions.read_text()
    definitions.write_text(text[: text.index("churn_model_v1 = FeatureService(")])
    assert cli("-r", applied_repo, "apply").exit_code == 0
    result = cli("-r", applied_repo, "describe", "churn_model_v1")
    assert result.exit_code == 0, result.output
    assert "removed in version 2" in result.stdout
    assert "removed" in result.stdout[result.stdout.index("History") :]


def test_search_matches_tags_owner_and_feature_names(applied_repo: Path, cli):
    growth = cli("-r", applied_repo, "search", "GROWTH")
    assert growth.exit_code == 0, growth.output
    assert "user_stats" in growth.stdout and "churn_model_v1" in growth.stdout
    assert "A customer of the shop" not in growth.stdout  # the entity does not match

    by_feature = cli("-r", applied_repo, "search", "days_since")
    assert "user_stats" in by_feature.stdout and "churn_model_v1" not in by_feature.stdout

    nothing = cli("-r", applied_repo, "search", "zzz-no-such-thing")
    assert nothing.exit_code == 0
    assert "No registered object matches 'zzz-no-such-thing'" in nothing.stdout


def test_materialize_incremental_fills_the_online_store(applied_repo: Path, cli):
    result = cli("-r", applied_repo, "materialize-incremental")
    assert result.exit_code == 0, result.output
    assert re.search(r"^user_stats: 500 rows, ", result.stdout, re.M), result.stdout

    with FeatureStore(applied_repo) as store:
        response = store.get_online_features(
            ["user_stats:total_purchases", "user_stats:preferred_category"],
            entity_rows=[{"user_id": 1001}, {"user_id": 1500}, {"user_id": 99}],
        )
        values, statuses = response.to_dict(), response.statuses
    assert values["user_id"] == [1001, 1500, 99]
    assert statuses["total_purchases"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert all(isinstance(v, int) for v in values["total_purchases"][:2])

    described = cli("-r", applied_repo, "describe", "user_stats")
    assert "never (run" not in described.stdout

    again = cli("-r", applied_repo, "materialize-incremental")
    assert again.exit_code == 0
    assert re.search(r"^user_stats: 0 rows, ", again.stdout, re.M), again.stdout


def test_materialize_an_explicit_range_of_one_view(applied_repo: Path, cli):
    end = datetime.now(UTC)
    start = end - timedelta(days=1)
    result = cli(
        "-r",
        applied_repo,
        "materialize",
        start.strftime("%Y-%m-%dT%H:%M:%S"),
        end.isoformat(),
        "--views",
        "user_stats",
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"^user_stats: 500 rows, ", result.stdout, re.M), result.stdout

    empty = cli("-r", applied_repo, "materialize", "2001-01-01", "2001-01-02")
    assert empty.exit_code == 0
    assert re.search(r"^user_stats: 0 rows, 2001-01-01T00:00:00\+00:00", empty.stdout, re.M)
