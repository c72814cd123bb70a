"""Setting up Spark: configuration, sessions passed in, and failures found before any work."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from skewless.backends import make_offline_engine
from skewless.config import RepoConfig, SparkOfflineConfig
from skewless.errors import ConfigError
from skewless.offline.spark.engine import SparkEngine
from skewless.offline.spark.session import check_master, find_java

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, **block: object) -> RepoConfig:
    return RepoConfig(
        project="p",
        registry={"path": str(tmp_path / "registry.db")},
        offline_store={"type": "spark", **block},
        repo_path=tmp_path,
    )


def test_config_block_selects_the_spark_engine(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path, master="local[2]", spark_conf={"spark.sql.shuffle.partitions": "2"})
    assert config.offline_store == SparkOfflineConfig(
        master="local[2]", spark_conf={"spark.sql.shuffle.partitions": "2"}
    )
    engine = make_offline_engine(config)
    assert isinstance(engine, SparkEngine)
    assert engine.session is spark  # the running session is reused ...
    engine.close()
    assert spark.range(3).count() == 3  # ... and left running: the engine did not build it


def test_defaults_of_the_block() -> None:
    block = SparkOfflineConfig()
    assert (block.type, block.master, block.spark_conf) == ("spark", "local[2]", {})


def test_a_time_zone_other_than_utc_in_spark_conf_is_rejected(tmp_path: Path) -> None:
    config = _config(tmp_path, spark_conf={"spark.sql.session.timeZone": "Europe/Paris"})
    with pytest.raises(ConfigError, match=r"timeZone.*'Europe/Paris'.*UTC"):
        make_offline_engine(config)


def test_another_master_than_the_running_session_is_an_error(
    spark: SparkSession, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"already runs.*from_session"):
        SparkEngine(SparkOfflineConfig(master="local[1]"), tmp_path)


def test_from_session_needs_utc(spark: SparkSession, tmp_path: Path) -> None:
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        with pytest.raises(ConfigError, match=r"'America/New_York'.*spark\.conf\.set"):
            SparkEngine.from_session(spark, tmp_path)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    engine = SparkEngine.from_session(spark, tmp_path)
    assert engine.session is spark and engine.repo_path == tmp_path
    engine.close()
    assert spark.range(2).count() == 2  # a session passed in stays open


def test_close_drops_the_engines_temporary_views(spark: SparkSession, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from offline_data import make_view

    from skewless.types import Int64

    pq.write_table(
        pa.table({"user_id": [1], "ts": pa.array([0], pa.timestamp("us", "UTC")), "score": [1]}),
        tmp_path / "s.parquet",
    )
    engine = SparkEngine.from_session(spark, tmp_path)
    before = {t.name for t in spark.catalog.listTables()}
    engine.source_read(make_view("v", "s.parquet", features={"score": Int64}, created=False), None)
    assert len({t.name for t in spark.catalog.listTables()} - before) == 1
    engine.close()
    assert {t.name for t in spark.catalog.listTables()} == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_master_fails_at_once() -> None:
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(
        ConfigError, match=rf"cannot reach the Spark master 'spark://127.0.0.1:{port}'"
    ):
        check_master(f"spark://127.0.0.1:{port}", timeout=1.0)
    assert time.monotonic() - started < 5


def _run_engine(master: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    code = (
        "from pathlib import Path\n"
        "from skewless.config import SparkOfflineConfig\n"
        "from skewless.offline.spark.engine import SparkEngine\n"
        "from skewless.errors import ConfigError\n"
        "try:\n"
        f"    SparkEngine(SparkOfflineConfig(master={master!r}), Path('.'))\n"
        "except ConfigError as exc:\n"
        "    print('ConfigError:', exc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unreachable_master_is_one_clear_error_before_spark_starts(tmp_path: Path) -> None:
    port = _free_port()
    started = time.monotonic()
    done = _run_engine(f"spark://127.0.0.1:{port}", {}, tmp_path)
    assert time.monotonic() - started < 60
    assert f"ConfigError: cannot reach the Spark master 'spark://127.0.0.1:{port}'" in done.stdout
    assert "offline_store.master" in done.stdout


def test_no_java_is_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "no-java"
    empty.mkdir()
    done = _run_engine("local[1]", {"JAVA_HOME": str(empty)}, tmp_path)
    assert f"ConfigError: Spark needs Java 17+, but there is no java on JAVA_HOME={empty}" in (
        done.stdout
    ), done.stdout + done.stderr
    assert "openjdk-17-jre-headless" in done.stdout


def test_an_old_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "jdk8"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'java version \"1.8.0_292\"' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(home))
    with pytest.raises(ConfigError, match=r"is Java 8: install a Java 17\+"):
        find_java()


def test_the_installed_java_is_found() -> None:
    java, major = find_java()
    assert major >= 17 and Path(java).is_file()
