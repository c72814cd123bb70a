#!/usr/bin/env bash
# Install skewless with every extra into .venv, then run the quickstart:
# synthetic e-commerce data -> apply -> materialize -> point-in-time training set ->
# scikit-learn churn model -> online features. Arguments go to `skewless quickstart`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/_venv.sh
install_into_venv all

exec .venv/bin/skewless quickstart "$@"
