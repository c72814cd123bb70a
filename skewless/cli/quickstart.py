"""``skewless quickstart``: the whole loop on synthetic e-commerce data, step by step.

Scaffold a repository with a churn label table, apply its definitions, materialize the
latest values, build a point-in-time training set, train and score a classifier on a
time-based split, then read the same features online and time the lookups.
"""

import importlib.util
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, fail, guarded, repo_dir, status

__all__ = ["DEFAULT_DIR", "quickstart"]

DEFAULT_DIR = "skewless_quickstart"
SERVICE = "churn_model_v1"
STEPS = 7
LATENCY_CALLS = 200


class _Step:
    """Collects a step's lines; they print under its title once the step is done."""

    def __init__(self) -> None:
        self.lines: list[Text | Table] = []

    def say(self, text: str) -> None:
        self.lines.append(Text(text))

    def show(self, table: Table) -> None:
        self.lines.append(table)


@contextmanager
def _step(out: Console, number: int, title: str, spinner: bool = True) -> Iterator[_Step]:
    """Time a step; ``spinner=False`` for steps that draw their own progress bar."""
    step = _Step()
    started = time.perf_counter()
    if spinner:
        with status(f"[{number}/{STEPS}] {title}..."):
            yield step
    else:
        yield step
    elapsed = time.perf_counter() - started
    heading = Text(f"[{number}/{STEPS}] {title}", style="bold")
    heading.append(f"  ({elapsed:.2f} s)", style="dim")
    out.print(heading)
    for line in step.lines:
        if isinstance(line, Text):
            out.print(Text("      ") + line)
        else:
            out.print(Padding(line, (0, 0, 0, 6), expand=False))


def _prepare_dir(target: Path) -> None:
    from skewless.demo import is_quickstart_dir

    if not target.exists():
        return
    if is_quickstart_dir(target):
        shutil.rmtree(target)
    elif target.is_dir() and not any(target.iterdir()):
        return
    else:
        fail(
            f"{target} exists and was not made by `skewless quickstart`: pass --dir with a new "
            "directory, or remove it"
        )


def _is_null(value: Any) -> bool:
    import pandas as pd

    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list value
        return False


def _fmt(value: Any) -> str:
    if _is_null(value):
        return "null"
    if isinstance(value, float | np.floating):
        return f"{value:.2f}"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as feature values: nulls match nulls, floats compare at float32 precision."""
    a_null, b_null = _is_null(a), _is_null(b)
    if a_null or b_null:
        return a_null and b_null
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        return bool(np.float32(a) == np.float32(b))
    return bool(a == b)


@guarded
def quickstart(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            "-d",
            help=f"Where to create the demo repository (default: ./{DEFAULT_DIR}; a previous "
            "quickstart directory there is recreated).",
            show_default=False,
        ),
    ] = None,
    users: Annotated[int, typer.Option(help="Number of synthetic users.", min=50)] = 5_000,
    days: Annotated[int, typer.Option(help="Days of daily snapshots.", min=14)] = 60,
    lifecycle: Annotated[
        bool,
        typer.Option(
            "--lifecycle/--no-lifecycle",
            help="Save the training set, log the model to MLflow with lineage, gate it on a "
            "held-out split and promote it (needs pip install 'skewless[mlflow]').",
        ),
    ] = True,
) -> None:
    """Run the whole loop on synthetic e-commerce data: features, training set, model, serving.

    Needs scikit-learn (pip install 'skewless[sklearn]').
    """
    from skewless.demo import SKLEARN_HINT, sklearn_available

    if not sklearn_available():
        fail(f"the quickstart trains a model with scikit-learn, which is missing: {SKLEARN_HINT}")
    if lifecycle:
        from skewless.demo.lifecycle import mlflow_available

        if not mlflow_available():
            fail(
                "the quickstart logs, gates and promotes its model on MLflow, which is missing: "
                "pip install 'skewless[mlflow]', or pass --no-lifecycle"
            )
    target = repo_dir(ctx, directory if directory is not None else DEFAULT_DIR)
    _prepare_dir(target)
    out = console()
    out.print(Text("skewless quickstart: a churn model whose features are defined once", "bold"))
    out.print(Text(f"repository: {target}"))
    out.print()
    started = time.perf_counter()
    _run(out, target, users, days, lifecycle)
    total = time.perf_counter() - started
    out.print()
    out.print(Text(f"Done in {total:.1f} s. Explore the repository:", style="bold"))
    out.print(Text(f"  cd {target}"))
    out.print(Text("  skewless list"))
    out.print(Text("  skewless describe user_stats"))
    out.print(Text(f"  skewless search {SERVICE}"))


def _run(out: Console, target: Path, users: int, days: int, lifecycle: bool = True) -> None:
    import pandas as pd

    from skewless.demo import scaffold_repo, train_churn_model
    from skewless.repo import load_repo_objects
    from skewless.store import FeatureStore

    with _step(out, 1, "Generate synthetic e-commerce data") as step:
        made = scaffold_repo(target, n_users=users, n_days=days, quickstart=True)
        data = made.data
        step.say(
            f"{data.user_stats.num_rows:,} daily snapshots ({data.n_users:,} users x "
            f"{data.n_days} days, up to {data.end:%Y-%m-%d %H:%M} UTC) -> data/user_stats.parquet"
        )
        step.say(
            f"{data.labels.num_rows:,} churn labels ({data.churn_rate:.1%} churned) "
            "-> data/churn_labels.parquet"
        )

    with FeatureStore(repo_path=target) as store:
        with _step(out, 2, "skewless apply: register the definitions in features.py") as step:
            plan = store.apply(load_repo_objects(target), partial=False)
            for line in plan.render().splitlines():
                step.say(line)

        title = "skewless materialize-incremental: load the online store"
        with _step(out, 3, title, spinner=False) as step:
            report = store.materialize_incremental()
            for line in report.render().splitlines():
                step.say(line)

        with _step(out, 4, "Point-in-time training set (get_historical_features)") as step:
            labels = pd.read_parquet(made.labels_path)
            service = store.get_feature_service(SERVICE)
            job = store.get_historical_features(entity_df=labels, features=service)
            training = job.to_df()
            step.say(
                f"{len(training):,} rows x {len(training.columns)} columns: each label joined "
                f"with feature service {SERVICE} as of the label's time"
            )
            step.show(_frame_table(training.head(3)))

        with _step(out, 5, "Train a churn classifier on a time-based split") as step:
            model = train_churn_model(training)
            step.say(
                f"{model.model_name}: trained on {model.n_train:,} labels before "
                f"{model.cutoff:%Y-%m-%d %H:%M}, tested on the {model.n_test:,} after it"
            )
            step.say(
                f"held-out ROC AUC {model.roc_auc:.3f}  F1 {model.f1:.3f}  "
                f"(test churn rate {model.test_churn_rate:.1%})"
            )
            promoted = False
            if lifecycle:
                from skewless.demo.lifecycle import run_lifecycle

                promoted = run_lifecycle(store, job, model.cutoff, step.say).promoted

        with _step(out, 6, "Online features (get_online_features)") as step:
            picked = _online_step(step, store, service, data.user_stats.column("user_id"))

    with _step(out, 7, "Serve the promoted model: POST /predict with user ids only") as step:
        if not promoted:
            step.say(
                "skipped: no model was promoted"
                + (" (--no-lifecycle)" if not lifecycle else " (the gate did not pass)")
            )
        elif not all(importlib.util.find_spec(m) for m in ("uvicorn", "httpx", "starlette")):
            step.say("skipped: the prediction server needs pip install 'skewless[server]'")
        else:
            from skewless.demo.lifecycle import MODEL_NAME
            from skewless.demo.serving import serve_and_predict

            serve_and_predict(target, MODEL_NAME, picked[:3], step.say)


def _online_step(step: _Step, store: Any, service: Any, user_column: Any) -> list[int]:
    import pandas as pd

    rng = np.random.default_rng(1)
    all_users = np.unique(user_column.to_numpy())
    picked = sorted(
        int(u) for u in rng.choice(all_users, size=min(5, len(all_users)), replace=False)
    )
    rows = [{"user_id": u} for u in picked]
    response = store.get_online_features(features=service, entity_rows=rows)
    values = response.to_dict()
    statuses = response.statuses
    names = [c for c in values if c != "user_id"]
    table = Table(header_style="bold")
    for column in ["user_id", *names]:
        table.add_column(column)
    for i, user in enumerate(picked):
        table.add_row(str(user), *(_fmt(values[c][i]) for c in names))
    step.show(table)
    present = sum(s == "PRESENT" for c in names for s in _names(statuses[c]))
    step.say(f"{present} of {len(names) * len(picked)} values PRESENT (fresh under the view's TTL)")

    # The same keys, read offline as of now, must give exactly the online values.
    now = store.now()
    entity_df = pd.DataFrame({"user_id": picked, "event_timestamp": [now] * len(picked)})
    offline = store.get_historical_features(entity_df=entity_df, features=service).to_df()
    agree = sum(
        all(_same(values[c][i], offline[c].iloc[i]) for c in names) for i in range(len(picked))
    )
    step.say(
        f"training/serving skew check: {agree} of {len(picked)} users read the same values "
        "online as get_historical_features at now"
    )

    lookups = [[{"user_id": int(u)}] for u in rng.choice(all_users, size=LATENCY_CALLS)]
    for entity_rows in lookups[:20]:  # warm caches before timing
        store.get_online_features(features=service, entity_rows=entity_rows).to_dict()
    timings = []
    for entity_rows in lookups:
        t0 = time.perf_counter_ns()
        store.get_online_features(features=service, entity_rows=entity_rows).to_dict()
        timings.append(time.perf_counter_ns() - t0)
    p50, p99 = np.percentile(np.array(timings) / 1_000, [50, 99])
    step.say(
        f"lookup latency, 1 user x {len(names)} features, {LATENCY_CALLS} calls: "
        f"p50 {p50:,.0f} us, p99 {p99:,.0f} us"
    )
    return picked


def _names(statuses: Any) -> list[str]:
    return [getattr(s, "name", str(s)) for s in statuses]


def _frame_table(frame: Any) -> Table:
    table = Table(header_style="bold")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if hasattr(value, "strftime"):
                cells.append(value.strftime("%Y-%m-%d %H:%M"))
            else:
                cells.append(_fmt(value))
        table.add_row(*cells)
    return table
