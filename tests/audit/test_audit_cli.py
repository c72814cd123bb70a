"""``skewless audit``: tables, exit codes (a CI gate), ``--json`` and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_repo import build, corrupt, stats, write_yaml
from typer.testing import CliRunner, Result

from skewless.cli.main import app


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    build(tmp_path).close()
    write_yaml(tmp_path)
    return tmp_path


def run(repo: Path, *args: object) -> Result:
    return CliRunner().invoke(app, ["-r", str(repo), "audit", *map(str, args)])


def test_a_consistent_store_exits_0_with_tables(repo: Path) -> None:
    result = run(repo)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Skew" in out and "FEATURE" in out and "MISMATCHES" in out
    assert "stats:score" in out and "derived:double_amount" in out
    assert "Lag" in out and "KEYS WITH NEWER ROWS" in out
    assert "priced: skipped" in out
    assert "no skew" in out
    assert result.stderr == ""


def test_skew_exits_1_and_names_the_key(repo: Path, tmp_path: Path) -> None:
    from embedded_store import embedded_store

    from skewless._time import parse_time

    with embedded_store(repo, parse_time("2024-03-01"), project="audit") as store:
        corrupt(store, stats, 3, label="oops")
    out_file = tmp_path / "report.json"
    result = run(repo, "--features", "stats:label,stats:score", "--json", out_file)
    assert result.exit_code == 1, result.stderr
    assert "user_id=3: 'oops' != None" in result.stdout
    assert "skew: 1 mismatching values" in result.stdout
    data = json.loads(out_file.read_text())
    assert data["ok"] is False
    assert [f["feature"] for f in data["features"]] == ["stats:label", "stats:score"]
    assert data["features"][0]["examples"] == [
        {"key": {"user_id": 3}, "online": "oops", "offline": None}
    ]


def test_service_sample_seed_and_request_data(repo: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    result = run(repo, "--feature-service", "model", "--sample", 2, "--seed", 3, "--json", out_file)
    assert result.exit_code == 0, result.stderr
    data = json.loads(out_file.read_text())
    assert data["sample"] == 2 and data["seed"] == 3
    assert {f["compared"] for f in data["features"]} == {2}
    priced = run(repo, "-f", "priced:share", "--request-data", "price=2.5", "--json", out_file)
    assert priced.exit_code == 0, priced.stderr
    assert json.loads(out_file.read_text())["views"][0]["status"] == "audited"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--features", "stats:nope"], "no feature 'nope'"),
        (["--features", "ghost:x"], "unknown feature view 'ghost'"),
        (["--feature-service", "nothing"], "no feature service named 'nothing'"),
        (["-f", "stats:score", "-s", "model"], "not both"),
        (["--features", " , "], "--features is empty"),
        (["--request-data", "price"], "NAME=VALUE"),
        (["--at", "yesterday"], "--at 'yesterday' is not a time"),
    ],
)
def test_bad_input_is_one_error_line(repo: Path, args: list[str], message: str) -> None:
    result = run(repo, *args)
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]


def test_a_sample_below_1_is_a_usage_error(repo: Path) -> None:
    result = run(repo, "--sample", 0)
    assert result.exit_code == 2
    assert "--sample" in result.stderr
