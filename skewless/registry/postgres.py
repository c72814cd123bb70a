"""The registry in a PostgreSQL database, shared by a team (needs ``skewless[postgres]``).

Tables are prefixed ``skewless_`` so the database can hold other things too. Every write
transaction first takes a transaction-scoped advisory lock of its project: exclusive for a
commit, shared for a watermark update, so commits of one project are serialized exactly as
SQLite's ``BEGIN IMMEDIATE`` serializes them, while readers never wait. Multi-statement
reads run in one ``REPEATABLE READ`` read-only transaction; :meth:`version` is one query.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from skewless.config import RepoConfig
from skewless.errors import RegistryError, RegistryUnavailableError
from skewless.registry.core import Registry
from skewless.registry.sql import SCHEMA, TxMode

__all__ = ["PostgresRegistry", "is_postgres_url", "mask_url"]

CONNECT_TIMEOUT_SECONDS = 10
_SCHEMES = ("postgresql", "postgres")
_HOW_TO_FIX = (
    "check that PostgreSQL runs at that host and port, that the user, password and "
    "database in `registry.path` of feature_store.yaml are right, and that the database "
    "exists (createdb)"
)

try:
    import psycopg
    import psycopg.conninfo
    import psycopg.errors

    _DRIVER_ERRORS: tuple[type[Exception], ...] = (psycopg.Error,)
except ImportError:  # the postgres extra is not installed
    psycopg = None  # type: ignore[assignment]
    _DRIVER_ERRORS = ()


def is_postgres_url(path: str) -> bool:
    """Whether ``path`` is a PostgreSQL URL (``postgresql://``, ``postgres://``,
    ``postgresql+psycopg://``)."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.lower().split("+")[0] in _SCHEMES


def mask_url(url: str) -> str:
    """``url`` with its password (in the user part or the query) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return re.sub(r":[^:@/]*@", ":***@", url)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostinfo}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _lock_key(text: str) -> int:
    """A signed 64-bit advisory lock key for ``text``."""
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


_SCHEMA_LOCK = _lock_key("skewless-registry-schema")


class PostgresRegistry(Registry):
    """The registry in the PostgreSQL database ``config.registry.path`` names.

    The tables are created on the first write; reading a database that has none yet gives
    an empty snapshot at version 0.

    Args:
        config: the repository configuration; ``config.registry.path`` is a URL such as
            ``postgresql://user:password@host:5432/database``.

    Raises:
        RegistryError: psycopg is not installed, or the URL cannot be parsed.
    """

    placeholder: ClassVar[str] = "%s"
    tables: ClassVar[dict[str, str]] = {
        "meta": "skewless_registry_meta",
        "objects": "skewless_objects",
        "history": "skewless_object_history",
        "watermarks": "skewless_watermarks",
        "datasets": "skewless_datasets",
        "documents": "skewless_documents",
    }
    greatest: ClassVar[str] = "GREATEST"
    driver_errors: ClassVar[tuple[type[Exception], ...]] = _DRIVER_ERRORS

    def __init__(self, config: RepoConfig) -> None:
        super().__init__(config)
        self._password = ""
        url = config.registry.path
        scheme, _, rest = url.partition("://")
        self.url = f"{scheme.split('+')[0]}://{rest}"
        self.location = mask_url(self.url)
        if psycopg is None:
            raise RegistryError(
                f"registry {self.location} is in PostgreSQL, which needs psycopg: "
                "pip install 'skewless[postgres]'"
            )
        try:
            params = psycopg.conninfo.conninfo_to_dict(self.url)
        except psycopg.Error as exc:
            raise RegistryError(
                f"registry URL {self.location} is not a valid PostgreSQL URL "
                f"({self._clean(str(exc))}): write it as "
                "postgresql://user:password@host:port/database"
            ) from None
        self._password = str(params.get("password") or "")
        self._connect_args: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            self._connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        if "application_name" not in params:
            self._connect_args["application_name"] = "skewless-registry"
        self._project_lock = _lock_key(f"skewless-registry:{self.project}")

    def _clean(self, text: str) -> str:
        """A driver message on one line, without the password."""
        if len(self._password) >= 4:  # shorter ones would mask ordinary words
            text = text.replace(self._password, "***")
        return " ".join(text.split())

    def _open(self, *, create: bool) -> Any:
        assert psycopg is not None
        return psycopg.connect(self.url, **self._connect_args)

    def _create_schema(self, conn: Any) -> None:
        row = conn.execute("SELECT to_regclass(%s)", (self.tables["watermarks"],)).fetchone()
        if row[0] is not None:
            return
        conn.execute("BEGIN")
        try:
            # CREATE TABLE IF NOT EXISTS can still collide when run concurrently: serialize.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in SCHEMA.format(**self.tables).split(";"):
                if statement.strip():
                    conn.execute(statement)
        except BaseException:
            self._rollback(conn)
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _transaction(self, conn: Any, mode: TxMode) -> Iterator[None]:
        if mode == "read":
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            conn.execute("BEGIN")
            lock = "pg_advisory_xact_lock" if mode == "commit" else "pg_advisory_xact_lock_shared"
            try:
                conn.execute(f"SELECT {lock}(%s)", (self._project_lock,))
            except BaseException:
                self._rollback(conn)
                raise
        try:
            yield
        except BaseException:
            self._rollback(conn)
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _rollback(conn: Any) -> None:
        with contextlib.suppress(Exception):  # a broken connection has nothing to roll back
            conn.execute("ROLLBACK")

    def _is_broken(self, conn: Any) -> bool:
        return bool(conn.broken or conn.closed)

    def _is_missing_table(self, exc: Exception) -> bool:
        return psycopg is not None and isinstance(exc, psycopg.errors.UndefinedTable)

    def _error(self, exc: Exception) -> RegistryError:
        text = self._clean(str(exc))
        if psycopg is not None and isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return RegistryError(
                f"registry {self.location}: {text}: grant the user CREATE on the database "
                "(first apply) and SELECT, INSERT, UPDATE, DELETE on the skewless_* tables"
            )
        if psycopg is not None and isinstance(exc, psycopg.OperationalError):
            return RegistryUnavailableError(
                f"cannot connect to registry {self.location} ({text}): {_HOW_TO_FIX}"
            )
        return RegistryError(f"cannot use registry {self.location} ({text}): {_HOW_TO_FIX}")
