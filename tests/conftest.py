"""Fixtures shared by every test package."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The headless Chromium fixture (`browser`), one for the whole session (tests/browser.py).
pytest_plugins = ["browser"]

settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_sessionstart(session: object) -> None:
    """On CI, a missing server or optional package is an install bug, not a reason to skip
    its tests."""
    if not os.environ.get("CI"):
        return
    import glob
    import importlib.util
    import shutil

    import pytest

    missing = [tool for tool in ("redis-server", "wrk", "java") if shutil.which(tool) is None]
    if shutil.which("chromium") is None and not os.path.exists("/usr/bin/chromium"):
        missing.append("chromium")
    extras = ("pyspark", "mlflow", "sklearn", "onnxruntime", "httpx", "redis", "psycopg")
    extras += ("playwright",)
    missing += [name for name in extras if importlib.util.find_spec(name) is None]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb") and shutil.which("initdb") is None:
        missing.append("PostgreSQL (initdb)")
    if missing:
        raise pytest.UsageError(
            f"CI is missing {', '.join(missing)}: scripts/test.sh installs them; run it as root"
        )
