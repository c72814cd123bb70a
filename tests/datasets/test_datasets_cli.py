"""``skewless datasets list | describe | split``: output, one-line errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets_repo import REFS, build, entity_frame, write_yaml
from typer.testing import CliRunner, Result

from skewless.cli.datasets import sparkline
from skewless.cli.main import app


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    with build(tmp_path) as store:
        store.get_historical_features(entity_frame(), REFS).save_dataset("train")
    write_yaml(tmp_path)
    return tmp_path


def run(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-r", str(repo), "datasets", *args])


def test_list(repo: Path) -> None:
    result = run(repo, "list")
    assert result.exit_code == 0, result.stderr
    assert "train" in result.stdout and "24" in result.stdout


def test_list_when_there_is_none(tmp_path: Path) -> None:
    build(tmp_path).close()
    write_yaml(tmp_path)
    result = run(tmp_path, "list")
    assert result.exit_code == 0
    assert "No dataset saved yet" in result.stdout


def test_describe_shows_lineage_and_stats(repo: Path) -> None:
    result = run(repo, "describe", "train")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in ("dataset train", "entity fingerprint", "stats:score", "derived:double_score"):
        assert text in out
    assert "Numeric columns" in out and "Other columns" in out
    assert "label" in out and "String" in out and "a: " in out


def test_describe_unknown_is_one_line_exit_1(repo: Path) -> None:
    result = run(repo, "describe", "nope")
    assert result.exit_code == 1
    assert result.stderr == "error: no dataset named 'nope' (known: train)\n"


def test_split(repo: Path) -> None:
    result = run(repo, "split", "train", "--at", "2024-03-05T00:00:00Z")
    assert result.exit_code == 0, result.stderr
    assert "saved dataset train_train" in result.stdout
    assert "saved dataset train_holdout" in result.stdout
    named = run(repo, "split", "train", "--at", "2024-03-05", "--names", "early,late")
    assert named.exit_code == 0, named.stderr
    listing = run(repo, "list").stdout
    for name in ("train_train", "train_holdout", "early", "late"):
        assert name in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "soon"], "is not a time"),
        (["--at", "2030-01-01"], "leaves no rows after"),
        (["--at", "2024-03-05", "--names", "one"], "two different dataset names"),
        (["--at", "2024-03-05", "--names", "train,x"], "'train' already exists"),
    ],
)
def test_split_errors_exit_1(repo: Path, args: list[str], message: str) -> None:
    result = run(repo, "split", "train", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_split_without_at_is_a_usage_error(repo: Path) -> None:
    assert run(repo, "split", "train").exit_code == 2


def test_sparkline() -> None:
    assert sparkline([]) == "" and sparkline([0, 0]) == ""
    assert sparkline([1, 0, 8]) == "▁ █"
