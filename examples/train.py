"""Train a model on a saved training dataset and log it to MLflow with its lineage.

    python examples/train.py --repo . --dataset churn_train --model churn

Prints the new version number as the last line (and appends ``version=N`` to the file named
by ``$GITHUB_OUTPUT`` when it is set, so a CI job can hand it to the gate).
"""

from __future__ import annotations

import argparse
import os
import sys

from skewless import FeatureStore
from skewless.models import log_model, training_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="the feature repository")
    parser.add_argument("--dataset", required=True, help="the saved training dataset")
    parser.add_argument("--model", required=True, help="the registered model's name")
    parser.add_argument("--label", default=None, help="the target column (default: inferred)")
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args(argv)

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    with FeatureStore(repo_path=args.repo) as store:
        x, y = training_data(args.dataset, store, label=args.label)
        model = LogisticRegression(max_iter=args.max_iter).fit(x, y)
        version = log_model(
            model,
            args.model,
            dataset=args.dataset,
            store=store,
            label=args.label,
            params={"max_iter": args.max_iter},
            metrics={"train_f1": float(f1_score(y, model.predict(x)))},
        )
    print(f"logged {args.model} version {version.version} trained on {args.dataset}")
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a") as fh:
            fh.write(f"version={version.version}\n")
    print(version.version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
