"""Finding definitions by importing a repository's Python files."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from skewless import Entity, FeatureService, FeatureView
from skewless.errors import DefinitionError
from skewless.repo import load_repo_objects, repo_files

ENTITIES = """
from skewless import Entity

user = Entity(name="user", join_keys=["user_id"], description="A customer")
"""

VIEWS = """
from datetime import timedelta

from entities import user
from skewless import FeatureView, Field, FileSource
from skewless.types import Float64, Int64

source = FileSource(path="data/stats.parquet", created_timestamp_column="created")
user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=1),
    schema=[Field(name="total", dtype=Int64), Field(name="amount", dtype=Float64)],
    source=source,
)
"""

SERVICES = """
from features.stats import user_stats
from skewless import FeatureService

churn = FeatureService(name="churn", features=[user_stats[["total"]]])
not_a_definition = 42
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path, "feature_store.yaml", "project: shop\n")
    write(tmp_path, "entities.py", ENTITIES)
    write(tmp_path, "features/stats.py", VIEWS)  # a folder without __init__.py
    write(tmp_path, "services.py", SERVICES)
    return tmp_path


def kinds_and_names(objects: list[object]) -> list[tuple[str, str]]:
    return [(type(o).__name__, o.name) for o in objects]  # type: ignore[attr-defined]


def test_collects_definitions_from_every_file_once(repo: Path) -> None:
    objects = load_repo_objects(repo)
    assert kinds_and_names(objects) == [
        ("Entity", "user"),
        ("FeatureView", "user_stats"),
        ("FeatureService", "churn"),
    ]
    user, view, service = objects
    assert isinstance(user, Entity) and isinstance(view, FeatureView)
    assert isinstance(service, FeatureService)
    assert view.entities[0] is user  # the file imported the very same object
    assert view.source.path == "data/stats.parquet"  # relative paths stay as written
    assert service.feature_refs == ("user_stats:total",)


def test_leaves_sys_modules_and_sys_path_as_they_were(repo: Path) -> None:
    modules, path = set(sys.modules), list(sys.path)
    load_repo_objects(repo)
    assert list(sys.path) == path
    added = set(sys.modules) - modules
    leftovers = [
        name
        for name in added
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(repo))
    ]
    assert leftovers == []
    assert "entities" not in sys.modules and "features" not in sys.modules
    assert not list(repo.rglob("__pycache__"))


def test_edits_are_seen_on_the_next_load(repo: Path) -> None:
    assert load_repo_objects(repo)[0].description == "A customer"  # type: ignore[union-attr]
    write(repo, "entities.py", ENTITIES.replace("A customer", "A shopper"))  # same size
    assert load_repo_objects(repo)[0].description == "A shopper"  # type: ignore[union-attr]


def test_two_repositories_with_the_same_file_names_do_not_mix(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write(other, "entities.py", ENTITIES.replace('"user"', '"driver"'))
    assert kinds_and_names(load_repo_objects(other)) == [("Entity", "driver")]
    assert ("Entity", "user") in kinds_and_names(load_repo_objects(repo))


def test_skips_hidden_venv_data_pycache_and_ignored_files(repo: Path) -> None:
    broken = "this is not python ((\n"
    for rel in [
        ".hidden/x.py",
        ".venv/lib/site.py",
        "venv/lib/site.py",
        "data/generate.py",
        "__pycache__/old.py",
        "scratch/try.py",
        "features/broken_stats.py",
        "notes.py",
    ]:
        write(repo, rel, broken)
    write(repo, ".skewlessignore", "# not definitions\nscratch/\n**/broken_*.py\nnotes.py\n")
    assert [p.relative_to(repo).as_posix() for p in repo_files(repo)] == [
        "entities.py",
        "features/stats.py",
        "services.py",
    ]
    assert len(load_repo_objects(repo)) == 3


def test_import_error_names_the_file_and_the_error(repo: Path) -> None:
    write(repo, "features/extra.py", "import definitely_not_installed_pkg\n")
    with pytest.raises(
        DefinitionError,
        match=r"cannot import features/extra\.py: ModuleNotFoundError: .*"
        r"definitely_not_installed_pkg.*\.skewlessignore",
    ):
        load_repo_objects(repo)


def test_runtime_error_in_a_file_names_it(repo: Path) -> None:
    write(repo, "boom.py", "raise RuntimeError('the data is gone')\n")
    with pytest.raises(DefinitionError, match=r"boom\.py: RuntimeError: the data is gone"):
        load_repo_objects(repo)


def test_syntax_error_names_file_and_line(repo: Path) -> None:
    write(repo, "bad.py", "x = 1\ny = (\n")
    with pytest.raises(DefinitionError, match=r"bad\.py: syntax error in bad\.py at line 2"):
        load_repo_objects(repo)


def test_invalid_definition_in_a_file_names_the_file(repo: Path) -> None:
    write(repo, "wrong.py", "from skewless import Entity\nbad = Entity(name='1user')\n")
    with pytest.raises(DefinitionError, match=r"wrong\.py: entity name '1user' is not a valid"):
        load_repo_objects(repo)


def test_two_different_objects_with_one_name_name_both_files(repo: Path) -> None:
    write(repo, "more/users.py", ENTITIES.replace("A customer", "Someone else"))
    with pytest.raises(
        DefinitionError,
        match=r"two different entity definitions are named 'user', "
        r"in \(entities\.py, features/stats\.py\) and more/users\.py",
    ):
        load_repo_objects(repo)


def test_equal_definitions_in_two_files_count_once(repo: Path) -> None:
    write(repo, "copy_of_entities.py", ENTITIES)
    assert kinds_and_names(load_repo_objects(repo)).count(("Entity", "user")) == 1


def test_a_file_named_like_an_installed_module_is_still_read(repo: Path) -> None:
    write(repo, "yaml.py", ENTITIES.replace('"user"', '"store"'))  # pyyaml is imported already
    import yaml

    assert ("Entity", "store") in kinds_and_names(load_repo_objects(repo))
    assert sys.modules["yaml"] is yaml and hasattr(yaml, "safe_load")


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="is not a directory"):
        load_repo_objects(tmp_path / "nope")


def test_a_clash_names_every_file_that_holds_each_definition(repo: Path) -> None:
    write(repo, "z_users.py", ENTITIES.replace("A customer", "Someone else"))
    write(repo, "a_views.py", "from z_users import user\n")
    with pytest.raises(
        DefinitionError,
        match=r"named 'user', in \(a_views\.py, z_users\.py\) and \(entities\.py, features/",
    ):
        load_repo_objects(repo)
