"""``feature_store.yaml``: Feast's shape is accepted, mistakes are one clear line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from skewless.config import (
    DuckDBOfflineConfig,
    RegistryConfig,
    SqliteOnlineConfig,
    load_config,
)
from skewless.errors import ConfigError

FEAST_YAML = """
project: driver_ranking
registry: data/registry.db
provider: local
online_store:
    type: sqlite
    path: data/online_store.db
offline_store:
    type: file
entity_key_serialization_version: 2
"""


def write_config(root: Path, text: str) -> Path:
    (root / "feature_store.yaml").write_text(textwrap.dedent(text))
    return root


def test_feast_shaped_config_is_accepted(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, FEAST_YAML))
    assert config.project == "driver_ranking"
    assert config.registry == RegistryConfig(path="data/registry.db")
    assert config.online_store == SqliteOnlineConfig(type="sqlite", path="data/online_store.db")
    assert isinstance(config.offline_store, DuckDBOfflineConfig)
    assert config.offline_store.type == "file"  # Feast's name for the local engine
    assert config.entity_key_serialization_version == 2
    assert config.repo_path == tmp_path.resolve()
    assert config.resolve(config.registry.path) == tmp_path.resolve() / "data" / "registry.db"


def test_feast_auth_block_no_auth_is_accepted_and_others_refused(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, FEAST_YAML + "auth:\n    type: no_auth\n"))
    assert config.auth.type == "no_auth"
    write_config(tmp_path, FEAST_YAML + "auth:\n    type: oidc\n")
    with pytest.raises(ConfigError, match=r"`auth.type`.*'no_auth'"):
        load_config(tmp_path)


def test_minimal_config_uses_embedded_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "project: shop\n"))
    assert (config.provider, config.online_store.type, config.offline_store.type) == (
        "local",
        "sqlite",
        "duckdb",
    )
    assert config.registry.path == "data/registry.db"


def test_registry_as_a_mapping(tmp_path: Path) -> None:
    text = """
    project: shop
    registry:
        registry_type: file
        path: /var/lib/skewless/registry.db
        cache_ttl_seconds: 60
    offline_store:
        type: duckdb
        threads: 2
        memory_limit: 2GB
    """
    config = load_config(write_config(tmp_path, text))
    assert config.registry.cache_ttl_seconds == 60
    assert config.resolve(config.registry.path) == Path("/var/lib/skewless/registry.db")
    assert (config.offline_store.threads, config.offline_store.memory_limit) == (2, "2GB")


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    write_config(tmp_path, "project: shop\nonline_store:\n  type: sqlite\n   path: [oops\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+, column \d+: .*fix"):
        load_config(tmp_path)


def test_unknown_online_store_type_is_rejected(tmp_path: Path) -> None:
    write_config(tmp_path, "project: shop\nonline_store:\n  type: dynamo\n")
    with pytest.raises(ConfigError, match=r"online_store.*'dynamo'.*sqlite.*dotted class path"):
        load_config(tmp_path)


def test_unknown_offline_type_and_unknown_keys_are_rejected(tmp_path: Path) -> None:
    write_config(tmp_path, "project: shop\noffline_store:\n  type: bigquery\n")
    with pytest.raises(ConfigError, match=r"offline_store.*'bigquery'"):
        load_config(tmp_path)
    write_config(tmp_path, "project: shop\nonline_stor:\n  type: sqlite\n")
    with pytest.raises(ConfigError, match="online_stor"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("project: my-shop\n", "project.*letters, digits and underscores"),
        ("online_store:\n  type: sqlite\n", "project"),
        ("- project\n- shop\n", "must be a mapping"),
        ("", "must be a mapping"),
    ],
)
def test_bad_project_or_shape(tmp_path: Path, text: str, message: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no feature_store\.yaml .*skewless init"):
        load_config(tmp_path)


def test_dotted_backend_type_is_accepted_for_third_party_stores(tmp_path: Path) -> None:
    write_config(
        tmp_path, "project: shop\nonline_store:\n  type: acme.stores.AcmeStore\n  host: h1\n"
    )
    block = load_config(tmp_path).online_store
    assert block.type == "acme.stores.AcmeStore"
    assert block.model_extra == {"host": "h1"}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("threads: -5", r"`offline_store.threads`: -5 is not a number of threads: write 1 or more"),
        ("threads: 0", r"`offline_store.threads`: 0 is not a number of threads"),
        ("memory_limit: lots", r"`offline_store.memory_limit`: 'lots' is not a memory size"),
        ("memory_limit: 0GB", r"'0GB' is not a memory size: write e.g. 4GB"),
        ("memory_limit: 120%", r"'120%' is not a memory size"),
        ("memory_limit: 4", r"4 is not a memory size"),
    ],
)
def test_duckdb_settings_are_checked_before_duckdb_sees_them(
    tmp_path: Path, block: str, message: str
) -> None:
    write_config(tmp_path, f"project: shop\noffline_store:\n  type: duckdb\n  {block}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


@pytest.mark.parametrize("limit", ["4GB", "512 MiB", "1.5GiB", "80%", "1g"])
def test_memory_sizes_duckdb_reads_are_accepted(tmp_path: Path, limit: str) -> None:
    from skewless.offline.duckdb.engine import DuckDBEngine

    text = f"project: shop\noffline_store:\n  threads: 2\n  memory_limit: {limit}\n"
    write_config(tmp_path, text)
    config = load_config(tmp_path)
    engine = DuckDBEngine(config.offline_store, tmp_path)  # DuckDB itself accepts the size
    engine.close()
