"""A repository whose ``pipelines.py`` declares small pipelines of plain functions.

Every function appends its name to ``data/calls.txt`` when it really runs, so a test sees
which steps ran and which were taken from the cache. ``flaky`` fails until its counter file
reaches a given number of calls; ``explode`` fails while ``data/explode`` exists.
"""

from __future__ import annotations

from pathlib import Path

from skewless import FeatureStore
from skewless.repo import load_repo_objects

__all__ = ["PIPELINES_PY", "build_flow_repo", "calls", "rewrite"]

PIPELINES_PY = """\
from pathlib import Path

import pyarrow as pa

from skewless.pipelines import Pipeline, RunInfo, Step

DATA = Path(__file__).parent / "data"


def _called(name: str) -> int:
    DATA.mkdir(exist_ok=True)
    with (DATA / "calls.txt").open("a") as out:
        out.write(name + "\\n")
    return (DATA / "calls.txt").read_text().split().count(name)


def load(rows: int) -> pa.Table:
    _called("load")
    return pa.table({"x": list(range(rows))})


def double(load: pa.Table, factor: int) -> list[int]:
    _called("double")
    return [v * factor for v in load.column("x").to_pylist()]


def total(values: list[int], offset: int = 0) -> int:
    _called("total")
    return sum(values) + offset


def flaky(total: int, run: RunInfo) -> dict:
    n = _called("flaky")
    if n <= 2:
        raise ConnectionError(f"the service refused attempt {run.attempt}")
    return {"total": total, "attempt": run.attempt}


def explode(total: int) -> int:
    _called("explode")
    if (DATA / "explode").exists():
        raise ValueError(f"cannot publish {total}: the target is locked")
    return total * 10


def _steps() -> list[Step]:
    return [Step("load", load), Step("double", double),
            Step("total", total, inputs={"values": "double"})]


nightly = Pipeline("nightly", steps=_steps(), params={"rows": 4, "factor": 2},
                   description="sum of doubled numbers")
retried = Pipeline("retried", steps=[*_steps(), Step("flaky", flaky, retries=3, backoff_s=0.5)],
                   params={"rows": 3, "factor": 1})
publish = Pipeline("publish", steps=[*_steps(), Step("explode", explode)],
                   params={"rows": 5, "factor": 1})
"""


def build_flow_repo(root: Path, source: str = PIPELINES_PY) -> Path:
    """Write the repository and apply it; its path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "feature_store.yaml").write_text("project: flows\n")
    (root / "pipelines.py").write_text(source)
    with FeatureStore(repo_path=root) as store:
        store.apply(load_repo_objects(root), partial=False)
    return root


def rewrite(root: Path, old: str, new: str) -> None:
    """Change the text of ``pipelines.py`` (without applying it)."""
    path = root / "pipelines.py"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def calls(root: Path) -> list[str]:
    """The functions that really ran, in order (and forget them)."""
    path = root / "data" / "calls.txt"
    if not path.exists():
        return []
    found = path.read_text().split()
    path.unlink()
    return found
