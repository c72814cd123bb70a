"""Where the Redis online store connects: parsing ``connection_string`` and naming failures.

``connection_string`` is Feast's shape, ``host:port`` followed by optional comma-separated
``key=value`` options (``db``, ``username``, ``password``, ``ssl``), or a ``redis://`` /
``rediss://`` URL. Every failure to reach or use the server becomes an
:class:`~skewless.errors.OnlineStoreError` that names the server and what to do; a server
that cannot be reached (or is still loading) is an
:class:`~skewless.errors.OnlineStoreUnavailableError`, an outage rather than a refusal.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    RedisError,
    ResponseError,
)

from skewless.errors import ConfigError, OnlineStoreError, OnlineStoreUnavailableError

__all__ = ["RedisAddress", "parse_connection_string", "translate_errors"]

CONNECT_TIMEOUT_S = 5.0
"""How long opening a connection may take before the server counts as unreachable."""

SOCKET_TIMEOUT_S = 10.0
"""How long the server may stay silent while a reply is due (each script call answers in
milliseconds, so a large write never waits this long between replies)."""

_SHAPE = "host:port[,db=N][,username=U][,password=P][,ssl=true] or redis://[user:pass@]host:port/db"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class RedisAddress:
    """One Redis server and database, with credentials.

    Example:
        >>> parse_connection_string("cache.internal:6380,db=2,ssl=true").where
        'cache.internal:6380/2'
    """

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    @property
    def where(self) -> str:
        """``host:port`` (and ``/db`` when not 0), for messages; never the password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" + (f"/{self.db}" if self.db else "")

    def connection_pool(self) -> redis.ConnectionPool:
        """A thread-safe, fork-aware pool of connections to this server (none opened yet)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "socket_timeout": SOCKET_TIMEOUT_S,
            "socket_keepalive": True,
            "protocol": 2,
        }
        if self.ssl:
            kwargs["connection_class"] = redis.SSLConnection
        return redis.ConnectionPool(**kwargs)


_PASSWORD_OPTION = re.compile(r"(password\s*=)[^,]*", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def _masked(text: str) -> str:
    """``text`` with any password replaced by ``***`` (for messages).

    >>> _masked("h:1,password=s3cret,db=2"), _masked("redis://u:s3cret@h:1/0")
    ('h:1,password=***,db=2', 'redis://u:***@h:1/0')
    """
    return _URL_PASSWORD.sub(r"\1***@", _PASSWORD_OPTION.sub(r"\1***", text))


def _bad(text: str, problem: str) -> ConfigError:
    return ConfigError(f"online_store.connection_string {_masked(text)!r}: {problem}")


def _flag(name: str, value: str, text: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _bad(text, f"{name}={value!r} is not true or false")


def _int(name: str, value: str, text: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not low <= number <= high:
        raise _bad(text, f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return number


def _host_port(part: str, text: str) -> tuple[str, int]:
    part = part.strip()
    if part.startswith("["):  # [IPv6]:port
        host, _, rest = part[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif part.count(":") == 1:
        host, _, port = part.partition(":")
    else:
        host, port = part, ""
    if not host:
        raise _bad(text, f"no host; use {_SHAPE}, e.g. localhost:6379")
    return host, _int("port", port, text, 1, 65_535) if port else 6379


def _from_url(text: str) -> RedisAddress:
    url = urlsplit(text)
    try:
        port = url.port or 6379
    except ValueError:
        raise _bad(text, f"the port is not a number from 1 to 65535; use {_SHAPE}") from None
    path = url.path.strip("/")
    return RedisAddress(
        host=url.hostname or "localhost",
        port=port,
        db=_int("db", path, text, 0, 1_000_000) if path else 0,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        ssl=url.scheme == "rediss",
    )


def parse_connection_string(text: str) -> RedisAddress:
    """The server, database and credentials named by ``online_store.connection_string``.

    Raises:
        ConfigError: the string is malformed or holds an unknown option.

    >>> parse_connection_string("127.0.0.1:7000,db=1,password=s3cret")
    RedisAddress(host='127.0.0.1', port=7000, db=1, username=None, password='s3cret', ssl=False)
    >>> parse_connection_string("rediss://:pw@[::1]:6380/3").where
    '[::1]:6380/3'
    """
    text = text.strip()
    if text.startswith(("redis://", "rediss://")):
        return _from_url(text)
    if "://" in text:
        raise _bad(text, f"only redis:// and rediss:// URLs are supported; use {_SHAPE}")
    first, *options = text.split(",")
    host, port = _host_port(first, text)
    fields: dict[str, Any] = {}
    for option in options:
        if not option.strip():
            continue
        name, eq, value = option.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if not eq:
            raise _bad(text, f"every option after host:port is name=value; use {_SHAPE}")
        if name == "db":
            fields["db"] = _int("db", value, text, 0, 1_000_000)
        elif name in ("password", "username"):
            fields[name] = value
        elif name == "ssl":
            fields["ssl"] = _flag(name, value, text)
        else:
            raise _bad(
                text, f"unknown option {name!r}; the options are db, username, password and ssl"
            )
    return RedisAddress(host=host, port=port, **fields)


@contextlib.contextmanager
def translate_errors(address: RedisAddress, doing: str) -> Iterator[None]:
    """Turn redis-py and socket errors into :class:`OnlineStoreError` naming ``address``."""
    where = address.where
    try:
        yield
    except (AuthenticationError, AuthorizationError) as exc:
        raise OnlineStoreError(
            f"the Redis online store at {where} refused the credentials while {doing} ({exc}): "
            "set the right username=/password= in online_store.connection_string"
        ) from None
    except BusyLoadingError:
        raise OnlineStoreUnavailableError(
            f"the Redis online store at {where} is still loading its data while {doing}: "
            "retry in a moment"
        ) from None
    except ResponseError as exc:
        message = str(exc)
        if message.startswith("NOAUTH") or message.startswith("WRONGPASS"):
            hint = "set password= (and username=) in online_store.connection_string"
        elif message.startswith("OOM"):
            hint = "raise the server's maxmemory or lower the data kept online (key_ttl_seconds)"
        else:
            hint = "check that the server is Redis 6.2 or later and the database is not shared"
        raise OnlineStoreError(
            f"the Redis online store at {where} answered an error while {doing}: {message}; {hint}"
        ) from None
    except (RedisError, OSError) as exc:
        raise OnlineStoreUnavailableError(
            f"cannot reach the Redis online store at {where} while {doing} "
            f"({type(exc).__name__}: {exc}): start redis-server there, or fix "
            "online_store.connection_string in feature_store.yaml (host:port)"
        ) from None
