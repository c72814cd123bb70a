# Sourced by the other scripts: `install_into_venv EXTRAS` creates .venv (Python >= 3.11) if
# missing and installs the project into it, editable, with the given extras. pip's output
# goes to .venv/pip-install.log and is shown only when the install fails.
export PIP_DISABLE_PIP_VERSION_CHECK=1
PYTHON="${PYTHON:-python3}"

install_into_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "error: skewless needs Python 3.11 or newer as $PYTHON (set PYTHON=/path/to/python3.11)" >&2
      exit 1
    fi
    echo "Creating .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv .venv
  fi
  echo "Installing skewless[$extras] into .venv"
  if ! .venv/bin/python -m pip install -q -e ".[$extras]" >.venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log >&2
    echo "error: pip install -e '.[$extras]' failed (log above and in .venv/pip-install.log)" >&2
    exit 1
  fi
}
