#!/usr/bin/env bash
# Install skewless with its development extras into .venv, then run every check: ruff lint,
# ruff format, mypy and the whole pytest suite (arguments go to pytest). Exits non-zero if
# any check fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/_venv.sh
source scripts/_system.sh
ensure_test_servers
install_into_venv dev

failed=()
check() {
  echo "==> $*"
  if ! "$@"; then
    failed+=("$*")
  fi
}
check .venv/bin/ruff check .
check .venv/bin/ruff format --check .
check .venv/bin/mypy skewless
check .venv/bin/pytest "$@"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
