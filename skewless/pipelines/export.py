"""Pipelines for the orchestrators teams already run: an Airflow DAG file and a Kubeflow
Pipelines (KFP v2) definition whose tasks each run one step with
``skewless pipelines step NAME STEP --run-id ID``.

Every task runs one step of one run: the orchestrator's run id names the skewless run
(``airflow-<run_id>``, ``kfp-<run id>``), the first step creates it, and each later step reads
the outputs of the steps it binds from that run, as the local runner does; the run record,
caching, retries (skewless's own, inside the task) and the production alias behave exactly as
with ``skewless pipelines run``. Tasks depend on the steps whose outputs they bind, and on the
first step (which creates the run). See docs/pipelines.md, "Airflow and Kubeflow".

Neither orchestrator is a dependency of skewless: the DAG file imports only Airflow, and the
KFP definition is a Python file importing only ``kfp`` (``kubeflow_pipeline_source``);
``compile_kubeflow`` compiles it to the pipeline YAML where ``kfp`` is installed.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from skewless.errors import PipelineInputError

if TYPE_CHECKING:
    from skewless.definitions import Pipeline

__all__ = [
    "TARGETS",
    "airflow_dag_source",
    "compile_kubeflow",
    "kubeflow_pipeline_source",
    "step_dependencies",
]

TARGETS = ("airflow", "kubeflow")


def step_dependencies(pipeline: Pipeline) -> dict[str, list[str]]:
    """Step -> the steps it must run after: those whose outputs it binds, and the first step
    (which creates the run), in declared order.

    >>> import textwrap
    >>> from skewless.definitions import Pipeline, Step
    >>> p = Pipeline("t", steps=[Step("a", textwrap.dedent, inputs={"text": "raw"}),
    ...     Step("b", textwrap.indent, inputs={"text": "a", "prefix": "raw"})], params={"raw": "x"})
    >>> step_dependencies(p)
    {'a': [], 'b': ['a']}
    """
    names = list(pipeline.step_names)
    out: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        reads = {b.name for b in pipeline.bindings[name] if b.source == "step"}
        if i > 0:
            reads.add(names[0])
        out[name] = [n for n in names if n in reads]
    return out


def _task_id(step: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", step)


def _base_command(skewless: str | Path, repo: Path) -> list[str]:
    return [str(skewless), "--repo", str(Path(repo).resolve()), "pipelines", "step"]


def airflow_dag_source(
    pipeline: Pipeline,
    repo: Path,
    *,
    skewless: str | Path = "skewless",
    schedule: str | None = None,
    dag_id: str | None = None,
) -> str:
    """The text of an Airflow DAG file running ``pipeline`` one step per task.

    Args:
        pipeline: the registered pipeline.
        repo: the repository the tasks run in (an absolute path in the DAG).
        skewless: the ``skewless`` command the workers run (default: the one on PATH).
        schedule: a cron expression for the DAG (None: triggered by hand).
        dag_id: the DAG's id (default: ``skewless_<pipeline>``).
    """
    base = _base_command(skewless, repo)
    dag = dag_id or f"skewless_{_task_id(pipeline.name)}"
    tasks = []
    for step in pipeline.step_names:
        command = shlex.join([*base, pipeline.name, step])
        tasks.append(
            f"    {_task_id(step)} = BashOperator(\n"
            f"        task_id={step!r},\n"
            f"        bash_command={command!r} + RUN_ID,\n"
            "    )"
        )
    edges = [
        f"    {_task_id(before)} >> {_task_id(step)}"
        for step, afters in step_dependencies(pipeline).items()
        for before in afters
    ]
    description = pipeline.description or f"skewless pipeline {pipeline.name}"
    return (
        f'"""Airflow DAG of the skewless pipeline {pipeline.name!r}: one task per step, each\n'
        f"running `skewless pipelines step {pipeline.name} STEP --run-id ...` in {repo}.\n"
        'Written by `skewless pipelines export`; export it again after changing the pipeline."""\n'
        "\n"
        "from datetime import datetime\n"
        "\n"
        "from airflow import DAG\n"
        "from airflow.operators.bash import BashOperator\n"
        "\n"
        "RUN_ID = \" --run-id 'airflow-{{ run_id }}'\"\n"
        "\n"
        "with DAG(\n"
        f"    dag_id={dag!r},\n"
        f"    description={description!r},\n"
        f"    schedule={schedule!r},\n"
        "    start_date=datetime(2024, 1, 1),\n"
        "    catchup=False,\n"
        "    max_active_runs=1,\n"
        f"    tags=['skewless', {pipeline.name!r}],\n"
        ") as dag:\n" + "\n".join(tasks) + "\n" + ("\n".join(edges) + "\n" if edges else "")
    )


def kubeflow_pipeline_source(
    pipeline: Pipeline,
    repo: Path,
    *,
    image: str = "python:3.11-slim",
    skewless: str | Path = "skewless",
) -> str:
    """The text of a Python file defining ``pipeline`` for Kubeflow Pipelines (KFP v2): one
    container component per step, running ``skewless pipelines step`` in ``image`` (which
    must hold skewless and reach the repository at ``repo``). Its ``pipeline_func`` is what
    ``kfp.compiler.Compiler().compile`` takes."""
    base = _base_command(skewless, repo)
    steps = []
    for step in pipeline.step_names:
        command = [*base, pipeline.name, step, "--run-id"]
        steps.append(
            "@dsl.container_component\n"
            f"def {_task_id(step)}_step(run_id: str):\n"
            f"    return dsl.ContainerSpec(image=IMAGE, command={json.dumps(command)}, "
            "args=[run_id])\n"
        )
    body = []
    for step, afters in step_dependencies(pipeline).items():
        body.append(f"    {_task_id(step)} = {_task_id(step)}_step(run_id=run_id)")
        for before in afters:
            body.append(f"    {_task_id(step)}.after({_task_id(before)})")
    return (
        f'"""Kubeflow Pipelines (v2) definition of the skewless pipeline {pipeline.name!r}.\n'
        'Written by `skewless pipelines export`; compile it with kfp.compiler."""\n'
        "\n"
        "from kfp import dsl\n"
        "\n"
        f"IMAGE = {image!r}\n"
        "\n"
        "\n" + "\n\n".join(steps) + "\n\n"
        f"@dsl.pipeline(name={pipeline.name.replace('_', '-')!r}, "
        f"description={(pipeline.description or pipeline.name)!r})\n"
        "def pipeline_func(run_id: str = 'kfp-manual'):\n" + "\n".join(body) + "\n"
    )


def compile_kubeflow(source: str, target: Path) -> Path:
    """Compile the text of :func:`kubeflow_pipeline_source` to KFP's pipeline YAML.

    Raises:
        PipelineInputError: ``kfp`` is not installed here.
    """
    try:
        from kfp import compiler
    except ImportError:
        raise PipelineInputError(
            "compiling for Kubeflow needs kfp, which skewless does not install: "
            "`pip install kfp`, or write the Python definition with --format python"
        ) from None
    namespace: dict[str, object] = {}
    exec(compile(source, "<skewless kubeflow pipeline>", "exec"), namespace)
    compiler.Compiler().compile(namespace["pipeline_func"], str(target))
    return target
