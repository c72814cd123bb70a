"""The SparkSession behind the engine: checks made before any work, then build or reuse.

Everything that can be checked up front is: PySpark importable, a Java 17+ runtime for a new
session, a ``spark://`` or ``k8s://`` master accepting connections, and the session time zone
(docs/semantics.md: Spark sessions run in UTC).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from skewless.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "ENGINE_CONF",
    "MIN_JAVA",
    "UTC_ZONES",
    "build_session",
    "check_master",
    "check_time_zone",
    "find_java",
    "require_pyspark",
]

MIN_JAVA = 17
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "Universal", "Zulu"})
ENGINE_CONF: Mapping[str, str] = {
    # Parquet nanosecond timestamps load as BIGINT nanoseconds instead of failing the read.
    "spark.sql.legacy.parquet.nanosAsLong": "true",
}
"""Settings the engine puts on every session it uses (runtime SQL settings)."""

_NEW_SESSION_CONF: Mapping[str, str] = {
    "spark.app.name": "skewless",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
_CONNECT_TIMEOUT = 3.0


def require_pyspark() -> None:
    """Raise a ConfigError saying how to install PySpark when it is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(
            "offline_store type 'spark' needs PySpark: pip install 'skewless[spark]' "
            "(and a Java 17+ runtime)"
        ) from None


def find_java() -> tuple[str, int]:
    """The ``java`` Spark would start (``JAVA_HOME`` first, then ``PATH``) and its major
    version.

    Raises:
        ConfigError: no Java, or one older than 17; the message says what to install.
    """
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    where = f"JAVA_HOME={home}" if home else "PATH"
    install = (
        f"install a Java {MIN_JAVA}+ runtime (e.g. apt-get install openjdk-17-jre-headless) "
        "and set JAVA_HOME to it or put its java on PATH"
    )
    if not java or not Path(java).is_file():
        raise ConfigError(
            f"Spark needs Java {MIN_JAVA}+, but there is no java on {where}: {install}"
        )
    try:
        shown = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(
            f"Spark needs Java {MIN_JAVA}+, but {java} does not run ({exc}): {install}"
        ) from None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    if found is None:
        raise ConfigError(f"cannot tell the version of {java} ({shown.strip()!r}): {install}")
    major = int(found.group(1))
    if major == 1 and found.group(2):  # 1.8 means Java 8
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise ConfigError(f"Spark needs Java {MIN_JAVA}+, but {java} is Java {major}: {install}")
    return java, major


def check_master(master: str, timeout: float = _CONNECT_TIMEOUT) -> None:
    """Check that a standalone (``spark://h:p[,h2:p2]``) or Kubernetes master accepts TCP
    connections, so that a wrong URL fails at once rather than after Spark's retries.

    ``local[...]`` and ``yarn`` (found through the Hadoop configuration) are not checked.
    """
    if master.startswith("spark://"):
        hosts = [h.strip() for h in master[len("spark://") :].split(",") if h.strip()]
        targets = [_host_port(h, 7077) for h in hosts]
    elif master.startswith("k8s://"):
        url = urlsplit(master[len("k8s://") :])
        default = 443 if url.scheme != "http" else 80
        targets = [(url.hostname or "", url.port or default)]
    else:
        return
    errors = []
    for host, port in targets:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as exc:
            errors.append(f"{host}:{port}: {exc.strerror or exc}")
    raise ConfigError(
        f"cannot reach the Spark master {master!r} ({'; '.join(errors)}): start the master or "
        "fix offline_store.master in feature_store.yaml"
    )


def _host_port(text: str, default: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    try:
        return host.strip("[]"), int(port) if port else default
    except ValueError:
        raise ConfigError(
            f"Spark master host {text!r} has no valid port: write host:7077"
        ) from None


def check_time_zone(session: SparkSession) -> None:
    """Raise a ConfigError unless the session's time zone is UTC."""
    zone = session.conf.get("spark.sql.session.timeZone")
    if zone not in UTC_ZONES:
        raise ConfigError(
            f"the SparkSession's spark.sql.session.timeZone is {zone!r}, but skewless needs "
            "UTC (docs/semantics.md): run spark.conf.set('spark.sql.session.timeZone', 'UTC') "
            "or build the session with .config('spark.sql.session.timeZone', 'UTC')"
        )


def build_session(master: str, spark_conf: Mapping[str, str]) -> tuple[SparkSession, bool]:
    """Reuse the running SparkSession or build one for ``master``; set UTC on it.

    Returns the session and whether it was created here (the engine then stops it on close).

    Raises:
        ConfigError: PySpark or Java is missing, the master is unreachable, or ``spark_conf``
            asks for a time zone other than UTC.
    """
    require_pyspark()
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    zone = spark_conf.get("spark.sql.session.timeZone", "UTC")
    if zone not in UTC_ZONES:
        raise ConfigError(
            f"offline_store.spark_conf sets spark.sql.session.timeZone to {zone!r}: skewless "
            "needs UTC (docs/semantics.md); remove the setting"
        )
    running = SparkContext._active_spark_context
    created = running is None
    if running is not None and running.master != master:
        raise ConfigError(
            f"a SparkSession for master {running.master!r} already runs in this process, but "
            f"offline_store.master is {master!r}: use the same master, or hand the running "
            "session over with SparkEngine.from_session(spark, repo_path)"
        )
    if created:
        find_java()
        check_master(master)
    if created and master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # Local Python workers run this interpreter (with skewless's pyarrow), not `python3`.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder.master(master)
    for key, value in {**_NEW_SESSION_CONF, **spark_conf}.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM failed to start or the master refused us
        raise ConfigError(
            f"cannot start Spark with master {master!r}: {_first_line(exc)}; check the master "
            "URL, offline_store.spark_conf and the Java runtime (JAVA_HOME)"
        ) from exc
    if created:
        session.sparkContext.setLogLevel("ERROR")
    return session, created


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
