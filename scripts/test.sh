#!/usr/bin/env bash
# Install skewless with its development extras into .venv, then run every check: ruff lint,
# ruff format, mypy and the whole pytest suite (arguments go to pytest). Exits non-zero if
# any check fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Create .venv (Python >= 3.11) if missing and install the project into it, editable.
# pip's output goes to .venv/pip-install.log and is shown only when the install fails.
export PIP_DISABLE_PIP_VERSION_CHECK=1
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: skewless needs Python 3.11 or newer as $PYTHON (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  echo "Creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
echo "Installing skewless[dev] into .venv"
if ! .venv/bin/python -m pip install -q -e '.[dev]' >.venv/pip-install.log 2>&1; then
  cat .venv/pip-install.log >&2
  echo "error: pip install -e '.[dev]' failed (log above and in .venv/pip-install.log)" >&2
  exit 1
fi

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
