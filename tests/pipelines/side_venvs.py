"""Orchestrators in virtualenvs of their own (Airflow and KFP pin libraries skewless does not
share), made on first use under ``tests/.venvs/`` and kept for later runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

__all__ = ["VENVS", "side_python"]

VENVS = Path(__file__).resolve().parent.parent / ".venvs"
INSTALL_TIMEOUT_S = 900


def side_python(name: str, requirement: str, probe: str) -> Path:
    """The Python of the virtualenv ``name`` holding ``requirement`` (``import probe`` works),
    installed when missing; how long it took is printed."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    if python.exists() and _imports(python, probe):
        return python
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", requirement],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    print(f"{name}: installed {requirement} in {time.monotonic() - began:.0f} s")
    assert _imports(python, probe), f"{requirement} installed, but `import {probe}` fails"
    return python


def _imports(python: Path, module: str) -> bool:
    done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
    return done.returncode == 0
