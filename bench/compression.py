"""Model compression: size, p99 latency and metric of each compressed version next to the
original, all measured in the same run (``skewless.models.compress_model``).

The repository is ``skewless quickstart`` (USERS users, DAYS days, with ``--lifecycle``): its
model ``churn`` version 1 is the quickstart's pipeline (an ordinal encoding of
``preferred_category``, then a 60-tree ``HistGradientBoostingClassifier`` with categorical
splits), trained on ``churn_training_train``; the metrics are on ``churn_training_holdout``.

The models, each logged with lineage on the same training rows and compressed:

- ``quickstart``: the quickstart model itself. Its categorical splits are refused (skl2onnx
  would convert them as numeric thresholds); the bench prints the refusal and checks it.
- ``quickstart-ordinal``: the same pipeline with ``categorical_features=None`` (the category
  as its ordinal code), to ONNX.
- ``gbm-100``: the same encoding, median imputation of missing values, then a 100-tree
  ``GradientBoostingClassifier`` (depth 3), to ONNX.
- ``mlp``: the same encoding and imputation, a ``StandardScaler`` and an ``MLPClassifier``
  (256, 256), to ONNX and to ONNX int8.

Each row: the version's artifact size, the p99 of single-row predictions (the gate's figures,
200 rows), f1 and AUC on the holdout, and the changes against the original (size and p99 as
a percentage, f1 as a loss). Stated tolerances, checked before anything is printed as a
result (a miss exits non-zero): ONNX probabilities within 1e-4 of the original's and at
least 99.5% identical classes; ONNX int8 probabilities within 0.25 (the worst row: int8
activations of a 256-wide network move a probability near 0.5 by up to about 0.2 at 5,000
users) and at least 97% identical classes, f1 loss at most 0.02.

Run: ``.venv/bin/python bench/compression.py`` (``--users 5000 --days 60``, ``--no-write``);
``--quick`` for a tiny run that checks the tolerances.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from _agree import Disagreement
from _results import conditions, replace_section

BENCH = Path(__file__).resolve().parent
SECTION = "## Model compression (`bench/compression.py`)"
TRAIN, HOLDOUT = "churn_training_train", "churn_training_holdout"
TOLERANCE = {"onnx": (1e-4, 0.995, None), "onnx-int8": (0.25, 0.97, 0.02)}
"""Compression -> (max probability difference, min share of identical classes, max f1 loss)."""


def quickstart(root: Path, users: int, days: int) -> Path:
    """``skewless quickstart`` into ``root/quickstart``; the repository's path."""
    repo = root / "quickstart"
    command = [sys.executable, "-m", "skewless.cli.main", "quickstart", "-d", str(repo)]
    command += ["--users", str(users), "--days", str(days), "--lifecycle"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: the quickstart failed:\n{done.stdout}\n{done.stderr}")
    return repo


def _encoded(final: Any, scale: bool = False) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skewless.demo.lifecycle import _pipeline

    steps = [("encode", _pipeline(0).steps[0][1]), ("impute", SimpleImputer(strategy="median"))]
    steps += [("scale", StandardScaler())] if scale else []
    return Pipeline([*steps, ("model", final)])


def candidates() -> dict[str, Any]:
    """Model name -> an unfitted pipeline."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier

    from skewless.demo.lifecycle import _pipeline

    ordinal = _pipeline(0)
    ordinal.set_params(model__categorical_features=None)
    return {
        "quickstart-ordinal": ordinal,
        "gbm-100": _encoded(GradientBoostingClassifier(n_estimators=100, random_state=0)),
        "mlp": _encoded(MLPClassifier((256, 256), max_iter=300, random_state=0), scale=True),
    }


def check(model: str, report: Any) -> None:
    """Exit non-zero when ``report`` misses its stated tolerance."""
    kind = report.compressed.kind
    max_diff, min_labels, max_loss = TOLERANCE[kind]
    a = report.agreement
    problems = []
    if a.max_abs_diff > max_diff:
        problems.append(f"probabilities differ by {a.max_abs_diff:.3g} > {max_diff}")
    if a.labels is None or a.labels < min_labels:
        problems.append(f"{a.labels} identical classes < {min_labels}")
    if max_loss is not None and (report.metric_loss or 0.0) > max_loss:
        problems.append(f"f1 loss {report.metric_loss:.4f} > {max_loss}")
    if problems:
        raise Disagreement(f"bench: {model} {kind} misses its tolerance: {'; '.join(problems)}")


def _row(model: str, report: Any) -> list[str]:
    o, c = report.original, report.compressed

    def fig(v: Any, digits: int = 3) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    changes = [
        f"{-report.size_reduction:+.1%}",
        f"{report.latency_change:+.1%}",
        f"{report.metric_loss:+.4f}",
        f"{report.agreement.labels:.2%}",
        f"{report.agreement.max_abs_diff:.2g}",
    ]
    rows = []
    for figures, name, change in ((o, "original", ["-"] * 5), (c, c.kind, changes)):
        rows.append(
            f"| {model} | {name} | {figures.version} | {fig(figures.size_mb)} | {change[0]} | "
            f"{fig(figures.p99_ms)} | {change[1]} | {fig(figures.metrics.get('f1'), 4)} | "
            f"{fig(figures.metrics.get('auc'), 4)} | {change[2]} | {change[3]} | {change[4]} |"
        )
    return rows


def run(users: int, days: int) -> list[str]:
    """The table's lines (after the checks passed)."""
    from skewless import FeatureStore
    from skewless.errors import ModelCompressionError
    from skewless.models import compress_model, log_model, training_data

    lines = [
        "| model | variant | version | size MB | size | p99 ms | p99 | f1 | AUC | f1 loss | "
        "same class | max prob diff |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory(prefix="skewless-bench-compress-") as tmp:
        store = FeatureStore(repo_path=quickstart(Path(tmp), users, days))
        try:
            try:
                compress_model("churn", 1, dataset=HOLDOUT, store=store)
            except ModelCompressionError as exc:
                refusal = str(exc)
            else:
                raise Disagreement("bench: the quickstart's categorical splits were converted")
            if "categorical splits" not in refusal:
                raise Disagreement(f"bench: unexpected refusal: {refusal}")
            x, y = training_data(TRAIN, store)
            for name, model in candidates().items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    version = log_model(model.fit(x, y), name, dataset=TRAIN, store=store).version
                kinds = [None, "int8"] if name == "mlp" else [None]
                for quantize in kinds:
                    report = compress_model(
                        name, version, quantize=quantize, dataset=HOLDOUT, store=store
                    )
                    check(name, report)
                    rows = _row(name, report)
                    lines += rows if quantize is None else rows[1:]
        finally:
            store.close()
    return [*lines, "", f"quickstart model (churn version 1): refused: {refusal}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="a tiny run (500 users, 20 days)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    users, days = (500, 20) if args.quick else (args.users, args.days)
    lines = run(users, days)
    print("\n".join(lines))
    print("all compressed versions within their stated tolerance")
    if not (args.quick or args.no_write):
        command = f"python bench/compression.py --users {users} --days {days}"
        replace_section(
            SECTION,
            [SECTION, "", f"Command: `{command}` ({conditions()}).", "", *lines, ""],
        )


if __name__ == "__main__":
    main()
