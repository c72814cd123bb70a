"""The error contract: one ``error:`` line on stderr, exit 1, nothing written; ``--debug``
adds the traceback; usage mistakes exit 2."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import skewless.repo
from skewless.config import load_config
from skewless.registry import Registry


def _registry_version(repo: Path) -> int:
    return Registry(load_config(repo)).version()


def test_malformed_yaml(repo: Path, cli, error_line):
    (repo / "feature_store.yaml").write_text("project: shop\nonline_store: [sqlite\n")
    line = error_line(cli("-r", repo, "plan"))
    assert "feature_store.yaml is not valid YAML" in line
    assert "line" in line


def test_unknown_config_key_names_the_key(repo: Path, cli, error_line):
    yaml_file = repo / "feature_store.yaml"
    yaml_file.write_text(yaml_file.read_text() + "onlin_store: {}\n")
    line = error_line(cli("-r", repo, "apply"))
    assert "onlin_store" in line


def test_no_repository_here(tmp_path: Path, cli, error_line):
    line = error_line(cli("-r", tmp_path, "list"))
    assert "no feature_store.yaml" in line and "skewless init" in line


def test_missing_event_timestamp_column_fails_at_plan_time(repo: Path, cli, error_line):
    source = repo / "data" / "user_stats.parquet"
    table = pq.read_table(source)
    pq.write_table(table.drop_columns(["event_timestamp"]), source)
    for command in ("plan", "apply"):
        line = error_line(cli("-r", repo, command))
        assert "event_timestamp" in line
    assert _registry_version(repo) == 0


def test_wrong_dtype_fails_at_plan_time(repo: Path, cli, error_line):
    definitions = repo / "features.py"
    definitions.write_text(
        definitions.read_text().replace(
            'Field(name="preferred_category", dtype=String)',
            'Field(name="preferred_category", dtype=Int64)',
        )
    )
    line = error_line(cli("-r", repo, "apply"))
    assert "preferred_category" in line
    assert _registry_version(repo) == 0


def test_missing_source_file(repo: Path, cli, error_line):
    (repo / "data" / "user_stats.parquet").unlink()
    line = error_line(cli("-r", repo, "apply"))
    assert "user_stats.parquet" in line
    assert _registry_version(repo) == 0


def test_definition_file_that_does_not_import(repo: Path, cli, error_line):
    (repo / "broken.py").write_text("import no_such_module_anywhere\n")
    line = error_line(cli("-r", repo, "plan"))
    assert "broken.py" in line and "no_such_module_anywhere" in line


def test_unknown_feature_view_in_describe(applied_repo: Path, cli, error_line):
    line = error_line(cli("-r", applied_repo, "describe", "user_statz"))
    assert "'user_statz'" in line and "user_stats" in line  # names what exists


def test_unknown_feature_view_in_materialize(applied_repo: Path, cli, error_line):
    line = error_line(
        cli("-r", applied_repo, "materialize", "2024-01-01", "2024-01-02", "-v", "nope")
    )
    assert "'nope'" in line and "user_stats" in line


def test_end_before_start(applied_repo: Path, cli, error_line):
    line = error_line(cli("-r", applied_repo, "materialize", "2024-02-01", "2024-01-01"))
    assert "before START" in line
    assert (
        Registry(load_config(applied_repo)).get_watermark(
            Registry(load_config(applied_repo)).snapshot().get_feature_view("user_stats")
        )
        is None
    )


def test_unparsable_time(applied_repo: Path, cli, error_line):
    line = error_line(cli("-r", applied_repo, "materialize-incremental", "last tuesday"))
    assert "'last tuesday'" in line and "ISO-8601" in line


def test_debug_shows_the_traceback(repo: Path, cli):
    (repo / "feature_store.yaml").write_text("project: [\n")
    result = cli("--debug", "-r", repo, "plan")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConfigError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_unexpected_error_prints_one_line_and_a_hint(
    repo: Path, cli, error_line, monkeypatch: pytest.MonkeyPatch
):
    def explode(repo_path: object) -> list[object]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(skewless.repo, "load_repo_objects", explode)
    line = error_line(cli("-r", repo, "plan"))
    assert line == (
        "error: unexpected RuntimeError: disk on fire (re-run with --debug to see the traceback)"
    )
    debug = cli("--debug", "-r", repo, "plan")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "disk on fire" in debug.stderr


def test_interrupt_exits_130(repo: Path, cli, monkeypatch: pytest.MonkeyPatch):
    def interrupted(repo_path: object) -> list[object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(skewless.repo, "load_repo_objects", interrupted)
    result = cli("-r", repo, "apply")
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted"


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["materialize"],
        ["materialize", "2024-01-01"],
        ["describe"],
        ["list", "--bogus"],
        ["init"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, cli, args: list[str]):
    result = cli("-r", tmp_path, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
