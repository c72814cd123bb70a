"""``feature_store.yaml``: typed configuration, one pydantic model per backend block."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from skewless.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "AuthConfig",
    "CustomBackendConfig",
    "DuckDBOfflineConfig",
    "MlflowConfig",
    "OfflineStoreConfig",
    "OnlineStoreConfig",
    "PushConfig",
    "RedisOnlineConfig",
    "RegistryConfig",
    "RepoConfig",
    "ServerConfig",
    "SparkOfflineConfig",
    "SqliteOnlineConfig",
    "load_config",
]

CONFIG_FILE = "feature_store.yaml"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqliteOnlineConfig(_Block):
    """The embedded online store (the default): one SQLite file."""

    type: Literal["sqlite"] = "sqlite"
    path: str = "data/online_store.db"


class RedisOnlineConfig(_Block):
    """A shared Redis online store: ``connection_string`` is ``host:port`` (Feast's shape),
    optionally followed by ``,db=N,password=...,ssl=true``.

    With ``key_ttl_seconds`` set, keys expire at ``event time + view ttl + margin`` (views
    with a bounded TTL only; see docs/semantics.md "Redis key expiry").
    """

    type: Literal["redis"] = "redis"
    connection_string: str = "localhost:6379"
    key_ttl_seconds: float | None = None


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(%|[kmgt]i?b|[kmgt]|b)\s*$", re.IGNORECASE)


class DuckDBOfflineConfig(_Block):
    """The embedded offline engine (the default). ``file`` is accepted as an alias.

    ``threads`` is a positive number of threads; ``memory_limit`` a size such as ``4GB``,
    ``512MiB`` or ``80%`` (of the machine's memory).
    """

    type: Literal["duckdb", "file"] = "duckdb"
    threads: int | None = None
    memory_limit: str | None = None

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(
                f"{value} is not a number of threads: write 1 or more, or leave it out"
            )
        return value

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory_limit(cls, value: Any) -> Any:
        if value is None:
            return None
        found = _MEMORY.match(str(value)) if isinstance(value, str) else None
        amount = float(found.group(1)) if found else 0.0
        if found is None or amount <= 0 or (found.group(2) == "%" and amount > 100):
            raise ValueError(
                f"{value!r} is not a memory size: write e.g. 4GB, 512MB, 1.5GiB or 80%"
            )
        return value.strip()


class SparkOfflineConfig(_Block):
    """Spark as the offline engine (``pip install 'skewless[spark]'``, Java 17+).

    ``master`` is any Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``,
    ``k8s://https://host:443``); ``spark_conf`` holds extra Spark settings (Feast's key).
    The session time zone is always UTC.
    """

    type: Literal["spark"] = "spark"
    master: str = "local[2]"
    spark_conf: dict[str, str] = {}


class CustomBackendConfig(BaseModel):
    """A third-party backend: ``type`` is a dotted class path, other keys are its own."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str


def _backend_tag(builtin: dict[str, str]) -> Callable[[Any], str]:
    def tag(value: Any) -> str:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        if isinstance(kind, str) and "." in kind:
            return "custom"
        if kind is None:
            return next(iter(builtin.values()))
        return builtin.get(str(kind), str(kind))

    return tag


BUILTIN_TYPES = {
    "online_store": ["sqlite", "redis"],
    "offline_store": ["duckdb", "file", "spark"],
}
"""Built-in backend types per block; later backends add themselves here."""

OnlineStoreConfig = Annotated[
    Annotated[SqliteOnlineConfig, Tag("sqlite")]
    | Annotated[RedisOnlineConfig, Tag("redis")]
    | Annotated[CustomBackendConfig, Tag("custom")],
    Discriminator(_backend_tag({"sqlite": "sqlite", "redis": "redis"})),
]
OfflineStoreConfig = Annotated[
    Annotated[DuckDBOfflineConfig, Tag("duckdb")]
    | Annotated[SparkOfflineConfig, Tag("spark")]
    | Annotated[CustomBackendConfig, Tag("custom")],
    Discriminator(_backend_tag({"duckdb": "duckdb", "file": "duckdb", "spark": "spark"})),
]


class RegistryConfig(_Block):
    """Where definitions and their history live. A bare string in YAML is the path.

    ``registry_type: sql`` with ``path: postgresql://user@host:port/db`` keeps the registry
    in PostgreSQL (Feast's shape); ``file``/``sqlite`` keep it in a local SQLite file.
    """

    path: str = "data/registry.db"
    registry_type: Literal["file", "sqlite", "sql"] = "file"
    cache_ttl_seconds: float | None = None


DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """``30s``, ``5m``, ``2h``, ``1d`` (or a number of seconds) as a timedelta; other values
    are left to pydantic (ISO-8601 ``PT5M``, ``HH:MM:SS``).

    >>> parse_duration("5m")
    datetime.timedelta(seconds=300)
    """
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        if found := _DURATION.match(value):
            return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])
        try:
            return TypeAdapter(timedelta).validate_python(value)
        except ValidationError:
            pass
    raise ValueError(f"{value!r} is not a duration: write e.g. 5m, 30s or 1h (null: no limit)")


class PushConfig(_Block):
    """Pushes (``store.push``, HTTP ``/push``, ``skewless ingest``).

    ``max_clock_skew`` is how far past ``now`` a pushed row's event time may lie (``5m`` by
    default; ``null`` disables the check); see docs/semantics.md "Push".
    """

    max_clock_skew: timedelta | None = DEFAULT_MAX_CLOCK_SKEW

    @field_validator("max_clock_skew", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("max_clock_skew")
    @classmethod
    def _not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError("must not be negative: write e.g. 5m, or null for no limit")
        return value


class ServerConfig(_Block):
    """The HTTP feature server (``skewless serve``); see docs/serving.md.

    ``max_entities``: entities one ``/get-online-features`` request may ask for (more answer
    413). ``max_body_bytes``: the largest request body (``--max-body-bytes`` overrides it).
    ``read_timeout``: seconds a client may take to send a request's headers, and again its
    body (slower ones are cut off). ``keep_alive_timeout``: seconds an idle connection is
    kept open between requests.
    """

    max_entities: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    read_timeout: float = Field(default=15.0, gt=0)
    keep_alive_timeout: int = Field(default=5, ge=1)


class MlflowConfig(_Block):
    """Where models are tracked and registered (``pip install 'skewless[mlflow]'``).

    ``tracking_uri`` defaults to ``sqlite:///<repo>/data/mlflow.db`` (an absolute path, so
    the working directory does not matter); a relative ``sqlite:///`` path is read against
    the repository. ``registry_uri`` defaults to the tracking URI. ``keep_versions`` is the
    retention rule: the latest N versions of a model are kept (a version holding an alias
    is never deleted).
    """

    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str | None = None
    keep_versions: int = 3


class AuthConfig(_Block):
    """Feast's ``auth`` block. ``no_auth`` (Feast's default) is accepted: the feature server
    serves without authentication. Feast's ``kubernetes`` and ``oidc`` are refused rather
    than ignored, so that a server is never open by mistake."""

    type: Literal["no_auth"] = "no_auth"


class RepoConfig(BaseModel):
    """The whole of ``feature_store.yaml``, with ``repo_path`` (the directory holding it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str
    registry: RegistryConfig = RegistryConfig()
    provider: Literal["local"] = "local"
    online_store: OnlineStoreConfig = SqliteOnlineConfig()
    offline_store: OfflineStoreConfig = DuckDBOfflineConfig()
    entity_key_serialization_version: int | None = None
    mlflow: MlflowConfig = MlflowConfig()
    push: PushConfig = PushConfig()
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    repo_path: Path = Path(".")

    @field_validator("registry", mode="before")
    @classmethod
    def _registry_from_string(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not value or not value.replace("_", "").isalnum():
            raise ValueError("must be letters, digits and underscores, e.g. project: my_project")
        return value

    def resolve(self, path: str) -> Path:
        """A configured path, made absolute against the repository directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.repo_path / p).resolve()


def load_config(repo_path: str | Path = ".") -> RepoConfig:
    """Read and validate ``feature_store.yaml`` in ``repo_path``."""
    root = Path(repo_path).expanduser().resolve()
    file = root / CONFIG_FILE
    if not file.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {root}: run `skewless init NAME` to create a repository, "
            "or pass the directory that holds it"
        )
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{file} is not valid YAML{where}: {problem}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file} must be a mapping with at least `project: NAME`")
    return parse_config(raw, root, str(file))


def parse_config(raw: dict[str, Any], repo_path: Path, origin: str = CONFIG_FILE) -> RepoConfig:
    """Validate a configuration mapping; errors name the key and what it accepts."""
    try:
        return RepoConfig.model_validate({**raw, "repo_path": repo_path})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"] if not str(p).startswith("function-")]
        if len(loc) > 2 and loc[0] in BUILTIN_TYPES:
            del loc[1]  # the backend's tag (offline_store.duckdb.threads): not a key of the file
        where = ".".join(loc)
        msg = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "union_tag_invalid":
            tag = first.get("ctx", {}).get("tag")
            builtin = BUILTIN_TYPES.get(str(first["loc"][0]), [])
            msg = (
                f"unknown type {tag!r}: use one of {', '.join(builtin)} "
                "or a dotted class path (package.module.Class)"
            )
        raise ConfigError(f"{origin}: `{where}`: {msg}") from None
