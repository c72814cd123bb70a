"""The installed ``skewless`` console script, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("skewless")


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.is_file(), f"console script missing: pip install -e . puts it at {SCRIPT}"
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(SCRIPT), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``skewless init shop`` then ``skewless apply``, each in its own process."""
    base = tmp_path_factory.mktemp("subprocess")
    made = run("init", "shop", cwd=base)
    assert made.returncode == 0, made.stderr
    applied = run("apply", cwd=base / "shop")
    assert applied.returncode == 0, applied.stderr
    assert "+ feature_view user_stats (new)" in applied.stdout
    return base / "shop"


def test_version_and_help(tmp_path: Path):
    version = run("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("skewless ")
    helped = run("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "materialize-incremental" in helped.stdout


def test_init_apply_materialize_list(shop: Path):
    materialized = run("--repo", shop, "materialize-incremental", cwd=shop.parent)
    assert materialized.returncode == 0, materialized.stderr
    assert "user_stats: 500 rows" in materialized.stdout
    listed = run("list", "feature-services", cwd=shop)
    assert listed.returncode == 0 and "churn_model_v1" in listed.stdout
    assert listed.stderr == ""


def test_error_is_one_line_with_exit_1(shop: Path):
    result = run("describe", "no_such_view", cwd=shop)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no object named 'no_such_view'")


def test_debug_prints_the_traceback(shop: Path):
    result = run("--debug", "describe", "no_such_view", cwd=shop)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "UnknownObjectError" in result.stderr


def test_usage_error_exits_2(shop: Path):
    result = run("materialize", "2024-01-01", cwd=shop)
    assert result.returncode == 2
    assert "Missing argument" in result.stderr or "END" in result.stderr
