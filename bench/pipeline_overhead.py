"""Pipeline overhead: the runner's bookkeeping per step, next to calling the functions directly.

A repository (in a temporary directory) declares a pipeline of ``--steps`` steps chained by
name, each a plain function adding one to every item of a list of ``--payload`` integers.
Measured, best of ``--repeat`` runs:

- ``floor``: the same functions imported from the repository and called in order, each on the
  previous one's result;
- ``runner``: ``run_pipeline`` on the registered pipeline (SQLite registry, no MLflow, no
  display), every step run (``cache=False``): binding, the run record written as each step
  starts and ends, the output pickled, hashed and written atomically;
- ``runner, cached``: the same pipeline with caching on, after a first run: every step is
  taken from the cache (its cache key computed, the earlier run found, the record written).

Before timing, the runner's last output (read back from its file) is checked against the
floor's; a disagreement exits non-zero. Overhead per step = (runner - floor) / steps; the
target is under 50 ms.

Run: ``.venv/bin/python bench/pipeline_overhead.py`` (20 steps, 1,000 items); ``--quick`` for a
tiny run that only checks the answers agree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _agree import Disagreement, require_equal
from _results import conditions

from skewless.config import load_config
from skewless.pipelines import RunContext, RunStore, run_pipeline
from skewless.pipelines.outputs import OutputStore
from skewless.registry import Registry
from skewless.repo import import_functions, load_repo_objects
from skewless.store import FeatureStore

TARGET_MS = 50.0


def repository(root: Path, steps: int, payload: int) -> None:
    lines = ["from skewless.pipelines import Pipeline, Step", ""]
    lines += ["", "def step_0(payload: int) -> list[int]:", "    return list(range(payload))", ""]
    for i in range(1, steps):
        lines += [
            "",
            f"def step_{i}(step_{i - 1}: list[int]) -> list[int]:",
            f"    return [v + 1 for v in step_{i - 1}]",
            "",
        ]
    for name, cache in (("uncached", False), ("cached", True)):
        chain = ", ".join(f"Step('step_{i}', step_{i}, cache={cache})" for i in range(steps))
        lines.append(
            f"{name} = Pipeline({name!r}, steps=[{chain}], params={{'payload': {payload}}})"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text("project: bench\n")
    (root / "flows.py").write_text("\n".join(lines) + "\n")
    with FeatureStore(repo_path=root) as store:
        store.apply(load_repo_objects(root), partial=False)


def best(repeat: int, call: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - began)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--payload", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 repeat; check answers")
    args = parser.parse_args()
    steps, repeat = (3, 1) if args.quick else (args.steps, args.repeat)
    with tempfile.TemporaryDirectory(prefix="skewless-bench-pipeline-") as tmp:
        root = Path(tmp) / "repo"
        repository(root, steps, args.payload)
        refs = [f"flows:step_{i}" for i in range(steps)]
        functions = import_functions(root, refs)

        def floor() -> list[int]:
            value = functions[refs[0]](args.payload)
            for ref in refs[1:]:
                value = functions[ref](value)
            return list(value)

        registry = Registry(load_config(root))
        context = RunContext(registry, root)
        outputs = OutputStore(root)

        def runner(name: str) -> list[int]:
            run = run_pipeline(context, name)
            if run.status != "succeeded":
                raise Disagreement(f"bench: the {name} run failed: {run.error}")
            return list(outputs.load(run.steps[-1].output_path))

        expected = floor()
        require_equal("floor", expected, "runner", runner("uncached"))
        require_equal("floor", expected, "runner, cached", runner("cached"))
        print("answers agree: the runner's last output and the direct calls'")
        floor_s, _ = best(repeat, floor)
        runner_s, _ = best(repeat, lambda: runner("uncached"))
        cached_s, _ = best(repeat, lambda: runner("cached"))
        statuses = {s.status for s in RunStore(registry).list("cached")[-1].steps}
        registry.close()
    if statuses != {"skipped-cached"}:
        raise Disagreement(f"bench: the cached run's steps are {statuses}, not all cached")
    per_step = (runner_s - floor_s) / steps * 1000
    cached_per_step = (cached_s - floor_s) / steps * 1000
    print(
        f"`.venv/bin/python bench/pipeline_overhead.py{' --quick' if args.quick else ''}`: "
        f"{steps} steps, {args.payload:,} items per output, best of {repeat}, {conditions()}."
    )
    print("| variant | total ms | ms per step | overhead per step vs floor |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| floor: the functions called directly | {floor_s * 1000:.2f} | "
          f"{floor_s / steps * 1000:.3f} | - |")  # fmt: skip
    print(f"| runner, every step run | {runner_s * 1000:.1f} | {runner_s / steps * 1000:.2f} | "
          f"{per_step:.2f} ms |")  # fmt: skip
    print(f"| runner, every step from the cache | {cached_s * 1000:.1f} | "
          f"{cached_s / steps * 1000:.2f} | {cached_per_step:.2f} ms |")  # fmt: skip
    verdict = "met" if per_step < TARGET_MS else "not met"
    print(f"Target: under {TARGET_MS:g} ms of runner overhead per step: {verdict}.")


if __name__ == "__main__":
    try:
        main()
    except Disagreement as problem:
        print(problem.code, file=sys.stderr)
        sys.exit(1)
