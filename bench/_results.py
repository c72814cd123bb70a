"""Writing a benchmark's section of bench/RESULTS.md, and the run's conditions."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def conditions() -> str:
    """The date, the cores and the load average, for the line under a command."""
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} when the run ended"
    )


def replace_section(section: str, body: list[str], path: Path = RESULTS) -> None:
    """Replace (or append) the section headed ``section`` with ``body``."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(section) + r".*?(?=^## |\Z)", re.S | re.M)
    new = "\n".join(body) + "\n"
    text = pattern.sub(lambda _: new, text) if pattern.search(text) else text + "\n" + new
    path.write_text(text)
