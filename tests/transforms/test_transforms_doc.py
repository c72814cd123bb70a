"""The examples of docs/feature-engineering.md run, in order, as one script."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "feature-engineering.md"


def test_the_documented_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 7
    namespace: dict[str, object] = {"__name__": "feature_engineering_doc"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
