#!/usr/bin/env bash
# Install skewless with what the quickstart uses (scikit-learn, MLflow) into .venv, then run
# it: synthetic e-commerce data -> apply -> materialize -> point-in-time training set ->
# scikit-learn churn model -> saved dataset, MLflow model, gate, promotion -> online features
# -> the prediction server answering three requests that carry only user ids.
# Arguments go to `skewless quickstart`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/_venv.sh
install_into_venv sklearn,mlflow,server

exec .venv/bin/skewless quickstart "$@"
