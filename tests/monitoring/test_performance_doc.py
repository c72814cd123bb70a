"""The runnable example of docs/performance-monitoring.md runs and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "performance-monitoring.md"


def test_the_documented_example_runs_and_prints_its_comments() -> None:
    example = DOC.read_text().split("## A runnable example", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", example, flags=re.DOTALL)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "performance_doc"})
    printed = out.getvalue().splitlines()
    shown = [line.removeprefix("# > ") for line in code.splitlines() if line.startswith("# > ")]
    assert len(printed) == len(shown) == 6
    assert printed[:5] == shown[:5]
    assert printed[5].startswith(shown[5].removesuffix(", ...]"))
