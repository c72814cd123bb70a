# Sourced by test.sh: install what the test suite starts (redis-server, PostgreSQL, and the
# wrk load generator) from Debian's packages when it is missing. Needs root (as on CI) or sudo.
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "${_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_test_servers() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "Installing redis-server"
    apt_install redis-server
  fi
  if ! command -v wrk >/dev/null 2>&1; then
    echo "Installing wrk"
    apt_install wrk
  fi
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "Installing PostgreSQL"
    apt_install postgresql
  fi
}
