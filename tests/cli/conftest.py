"""Fixtures of the CLI tests: an in-process runner and scaffolded repositories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from skewless.cli.main import app

Invoke = Callable[..., Result]


@pytest.fixture
def cli() -> Invoke:
    """Run ``skewless ARGS...`` in-process; stdout and stderr are kept apart."""
    runner = CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def repo(tmp_path: Path, cli: Invoke) -> Path:
    """A repository made by ``skewless init shop`` (not applied)."""
    result = cli("--repo", tmp_path, "init", "shop")
    assert result.exit_code == 0, result.output
    return tmp_path / "shop"


@pytest.fixture
def applied_repo(repo: Path, cli: Invoke) -> Path:
    """The ``init`` repository after ``skewless apply``."""
    result = cli("-r", repo, "apply")
    assert result.exit_code == 0, result.output
    return repo


def _one_error_line(result: Result) -> str:
    """The single ``error: ...`` line of a failed command (asserts the contract)."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def error_line() -> Callable[[Result], str]:
    """Asserts that a command failed with exit code 1 and one ``error:`` line; returns it."""
    return _one_error_line
