"""A throwaway PostgreSQL cluster for tests: started on a free loopback port, stopped by pid.

PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the ``postgres``
system user and every command runs through ``runuser``; otherwise it runs as the current user.
TCP connections need a password (``scram-sha-256``), so tests can also check how a wrong
password is reported; the Unix socket of the temporary directory trusts its owner.

Use it as the session fixture :func:`postgres_server`, or :func:`postgres_url` for a fresh
database per test. When no PostgreSQL binaries are installed the tests are skipped (the test
script installs them).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0
SUPERUSER = "postgres"
PASSWORD = "s3cret-test-pw"


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres`` (version 15 preferred), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    candidates.sort(key=lambda path: "/15/" not in path)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(on_path)
    for initdb in candidates:
        bindir = Path(initdb).parent
        if (bindir / "postgres").exists():
            return bindir
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One temporary PostgreSQL cluster listening on ``127.0.0.1:port``.

    Args:
        bindir: where the PostgreSQL programs are (see :func:`find_bindir`).
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.host = "127.0.0.1"
        self.port = 0
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="skewless-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    # -- lifecycle ---------------------------------------------------------------------------
    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bindir / program), *args]
        if self._as_postgres:
            return ["runuser", "-u", "postgres", "--", *command]
        return command

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns once it accepts connections."""
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        subprocess.run(
            self._command(
                "initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
                "--encoding=UTF8", "--locale=C",
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip
        for _ in range(5):  # another process may take the free port first: try another
            self.port = free_port()
            if self._launch():
                return self
        raise RuntimeError(f"PostgreSQL did not start; see its log:\n{self._log_text()}")

    def _launch(self) -> bool:
        self.log.touch()
        if self._as_postgres:
            os.chown(self.log, pwd.getpwnam("postgres").pw_uid, -1)
        log = self.log.open("ab")
        self._proc = subprocess.Popen(
            self._command(
                "postgres", "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=300", "-c", "shared_buffers=32MB",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if self._accepts():
                self.pid = self._postmaster_pid()
                return self.pid is not None
            time.sleep(0.05)
        self.stop()
        return False

    def _accepts(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Fast shutdown by process id, then remove the cluster's directory."""
        pid = self.pid or self._postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        if self._proc is not None:
            try:
                self._proc.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self._proc.wait(STOP_TIMEOUT_SECONDS)
        self.pid, self._proc = None, None
        shutil.rmtree(self.root, ignore_errors=True)

    def _log_text(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return "(no log)"

    # -- databases ---------------------------------------------------------------------------
    def url(self, database: str, *, password: str = PASSWORD) -> str:
        """A ``postgresql://`` URL of ``database`` on this server."""
        return f"postgresql://{SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside any transaction."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections are still open on it."""
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole test session (skips when none is installed)."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs it: apt postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root needs runuser to start PostgreSQL as the postgres user")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'skewless[postgres]'")
    server = PostgresServer(bindir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
