"""``skewless logs NAME``: the summary, --json, --compact, and one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from skewless.cli.main import app
from skewless.serving.log_files import log_dir, publish_parquet
from skewless.serving.logs import PredictionLogWriter, prediction_table

from .log_rows import prediction, visible_parquet


def _cli(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def _error(result: Result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    now = datetime.now(UTC)
    with PredictionLogWriter(tmp_path, "churn", flush_ms=20) as writer:
        writer.submit(
            [
                prediction("a", now - timedelta(minutes=5), version=1, predictions=[1, 0]),
                prediction("b", now - timedelta(minutes=1), version=2, missing=[1], cached=2),
                prediction("old", now - timedelta(days=3), version=1, predictions=[1, 1]),
            ]
        )
    return tmp_path


def test_summary_table(logged: Path) -> None:
    result = _cli("-r", logged, "logs", "churn")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Prediction log churn (the whole log)" in out
    assert "REQUESTS" in out and "By model version" in out and "PREDICTION" in out
    line = next(line for line in out.splitlines() if "ms" in line)
    assert line.replace("│", " ").split()[:4] == ["3", "6", "1", "2"]


def test_since_and_json(logged: Path) -> None:
    result = _cli("-r", logged, "logs", "churn", "--since", "1d", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["requests"], summary["entities"], summary["missing"]) == (2, 4, 1)
    assert [v["model_version"] for v in summary["versions"]] == [1, 2]
    assert summary["since"] is not None and summary["latency_p50_ms"] == 3.0


def test_nothing_in_range(logged: Path) -> None:
    result = _cli("-r", logged, "logs", "churn", "--since", "30s")
    assert result.exit_code == 0, result.stderr
    assert "no requests in prediction log churn in the last 30s" in result.stdout


def test_compact(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    directory = log_dir(tmp_path, "churn")
    for i, days in enumerate([0, 2, 2, 45]):
        when = now - timedelta(days=days)
        table = prediction_table([prediction(f"r{i}", when)])
        publish_parquet(table, directory / f"date={when.date().isoformat()}", "part", when)
    result = _cli("-r", tmp_path, "logs", "churn", "--compact", "--retention", "30d")
    assert result.exit_code == 0, result.stderr
    assert "merged 2 files (4 rows) of 1 days, deleted 1 days older than 30d" in result.stdout
    assert len(visible_parquet(directory)) == 2
    as_json = _cli("-r", tmp_path, "logs", "churn", "--compact", "--retention", "none", "--json")
    assert json.loads(as_json.stdout)["deleted_days"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["logs", "fraud"], "no prediction log 'fraud'"),
        (["logs", "churn", "--since", "yesterday"], "--since 'yesterday' is not a duration"),
        (["logs", "churn", "--since", "0d"], "is not a duration"),
        (["logs", "churn", "--compact", "--retention", "-1d"], "--retention '-1d'"),
        (["logs", "../x"], "is not a valid name"),
    ],
)
def test_errors_are_one_line(logged: Path, args: list[str], message: str) -> None:
    assert message in _error(_cli("-r", logged, *args))


def test_no_logs_at_all(tmp_path: Path) -> None:
    assert "no log has been written yet" in _error(_cli("-r", tmp_path, "logs", "churn"))
