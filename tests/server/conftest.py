"""Fixtures of the feature server tests: one served repository for read-only tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from feature_server import ServerProcess, make_repo


@pytest.fixture(scope="session")
def served_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("served") / "repo")


@pytest.fixture(scope="session")
def server(served_repo: Path) -> Iterator[ServerProcess]:
    """A server shared by tests that do not change its repository."""
    with ServerProcess(served_repo, "--max-body-bytes", "65536") as process:
        yield process
