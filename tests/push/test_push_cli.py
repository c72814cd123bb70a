"""``skewless compact`` and ``skewless ingest`` on the command line: output and one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from push_repo import h, yaml_repo
from typer.testing import CliRunner, Result

from skewless.cli.main import app


def run(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error(result: Result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    store = yaml_repo(tmp_path)
    for score in (1, 2, 3):
        store.push(
            "events_push",
            [
                {
                    "user_id": 1,
                    "event_timestamp": h(score),
                    "score": score,
                    "label": None,
                    "amount": None,
                }
            ],
            to="offline",
        )
    store.close()
    return tmp_path


def test_compact_prints_one_line_per_source(repo: Path) -> None:
    result = run("-r", repo, "compact")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "data/events (events): 3 -> 1 pushed files, 3 rows rewritten, "
        "0 stale temporary files removed"
    )
    again = run("-r", repo, "compact", "--views", "events")
    assert again.stdout.strip() == (
        "data/events (events): 1 -> 1 pushed files, 0 rows rewritten, "
        "0 stale temporary files removed"
    )


def test_compact_unknown_view(repo: Path) -> None:
    assert "'nope' are not fed by a push source" in one_error(
        run("-r", repo, "compact", "-v", "nope")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "both"], "--to 'both' is not a push destination"),
        (["--batch", "0"], "--batch 0 must be at least 1"),
    ],
)
def test_ingest_bad_options(repo: Path, args: list[str], message: str) -> None:
    line = one_error(
        run("-r", repo, "ingest", "events_push", "--stream", "redis://127.0.0.1:1/events", *args)
    )
    assert message in line


def test_ingest_unknown_push_source(repo: Path) -> None:
    line = one_error(run("-r", repo, "ingest", "nope", "--stream", "redis://127.0.0.1:1/events"))
    assert "no push source named 'nope'" in line and "events_push" in line


def test_describe_names_the_push_source_of_a_view(repo: Path) -> None:
    result = run("-r", repo, "describe", "events")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"push source\s+│\s+events_push\s", result.stdout), result.stdout
