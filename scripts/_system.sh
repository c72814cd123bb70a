# Sourced by test.sh: install what the test suite starts (redis-server, PostgreSQL, the wrk load
# generator, and headless Chromium for the HTML pages' tests) from Debian's packages when it is
# missing. Needs root (as on CI) or sudo.
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
  # The HTML report's (and pages') tests open them in Debian's Chromium, driven by Playwright
  # (from the test extra) at /usr/bin/chromium: Playwright's own browser download is not used.
  if [ ! -x /usr/bin/chromium ]; then
    echo "Installing chromium"
    apt_install chromium
  fi
  ensure_java
}

# The Spark engine's tests need Java 17 or newer (PySpark 4 runs on it).
java_major() {
  command -v java >/dev/null 2>&1 || { echo 0; return; }
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' | head -1 |
    awk '{ print ($1 == 1 ? $2 : $1) + 0 } END { if (NR == 0) print 0 }'
}

ensure_java() {
  if [ "$(java_major)" -ge 17 ]; then
    return
  fi
  echo "Installing openjdk-17-jre-headless (Java 17+ is needed by the Spark engine)"
  if ! apt_install openjdk-17-jre-headless || [ "$(java_major)" -lt 17 ]; then
    local found
    found="$(java -version 2>&1 | head -1)" || found="no java on PATH"
    echo "error: Java 17 or newer is needed by the Spark engine (found: ${found:-none}) and" \
      "openjdk-17-jre-headless could not be installed: install a Java 17+ runtime and put" \
      "its java on PATH (or set JAVA_HOME), then rerun" >&2
    return 1
  fi
}
