"""Finding a repository's definitions by importing its Python files.

Every ``*.py`` file under the repository directory is imported (hidden directories, virtual
environments, ``data`` and the patterns of a ``.skewlessignore`` file are skipped) and its
module-level ``Entity``, ``FeatureView``, ``FeatureService`` and ``Pipeline`` objects are
collected. Files
may import each other by module name (``from entities import user``) as in Feast; no
``__init__.py`` is needed. The modules are removed from ``sys.modules`` afterwards, so loading
a repository twice reads the files again.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from skewless.definitions import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    Pipeline,
    kind_of,
)
from skewless.definitions.pipeline import PRIVATE_MODULE_PREFIX
from skewless.errors import DefinitionError

__all__ = ["IGNORE_FILE", "SKIPPED_DIRS", "import_functions", "load_repo_objects", "repo_files"]

IGNORE_FILE = ".skewlessignore"
SKIPPED_DIRS = frozenset({".venv", "venv", "data", "__pycache__", "site-packages", "node_modules"})

_DEFINITION_TYPES = (Entity, FeatureView, FeatureService, OnDemandFeatureView, Pipeline)


def repo_files(repo_path: str | Path) -> list[Path]:
    """The Python files of a repository that are imported for definitions, sorted.

    A ``.skewlessignore`` line is a glob relative to the repository (``scratch/``,
    ``**/test_*.py``, ``notebooks/*``); a directory pattern ignores everything below it.
    """
    root = Path(repo_path).resolve()
    patterns = _ignore_patterns(root)
    return sorted(p for p in _walk(root, root, patterns) if p.suffix == ".py")


def _ignore_patterns(root: Path) -> list[str]:
    file = root / IGNORE_FILE
    if not file.is_file():
        return []
    patterns = []
    for line in file.read_text().splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            patterns.append(text.strip("/") if text != "/" else text)
    return patterns


def _ignored(rel: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        candidates = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(rel, p) for p in candidates):
            return True
        # A bare name ignores that file or directory anywhere, as in .gitignore.
        if "/" not in pattern and fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern):
            return True
    return False


def _walk(root: Path, folder: Path, patterns: list[str]) -> Iterator[Path]:
    for entry in sorted(folder.iterdir()):
        rel = entry.relative_to(root).as_posix()
        if _ignored(rel, patterns):
            continue
        if entry.is_dir():
            if entry.name.startswith(".") or entry.name in SKIPPED_DIRS:
                continue
            yield from _walk(root, entry, patterns)
        elif entry.is_file():
            yield entry


def load_repo_objects(repo_path: str | Path) -> list[Definition]:
    """Import the repository's files and return their definitions, in file order.

    The same object reached from several files counts once. Relative source paths stay as
    written (engines resolve them against the repository).

    Raises:
        DefinitionError: a file fails to import (naming the file and the error), or two
            different definitions of one kind share a name (naming both files).
    """
    root = Path(repo_path).resolve()
    if not root.is_dir():
        raise DefinitionError(f"repository {root} is not a directory: pass the repository path")
    files = repo_files(root)
    homes: dict[int, tuple[Any, list[Path]]] = {}  # object id -> (object, files binding it)
    with _isolated_imports(root):
        for file in files:
            module = _import(root, file)
            for value in list(vars(module).values()):
                if isinstance(value, _DEFINITION_TYPES):
                    homes.setdefault(id(value), (value, []))[1].append(file)
    found: dict[tuple[str, str], tuple[Any, list[Path]]] = {}
    for value, where in homes.values():
        key = (kind_of(value), value.name)
        if key not in found:
            found[key] = (value, where)
            continue
        other, other_where = found[key]
        if other.to_spec() != value.to_spec():
            first, second = (_describe_files(root, w) for w in (other_where, where))
            raise DefinitionError(
                f"two different {key[0].replace('_', ' ')} definitions are named "
                f"{value.name!r}, in {first} and {second}: rename one of them"
            )
    return [obj for obj, _ in found.values()]


def _describe_files(root: Path, files: list[Path]) -> str:
    names = [f.relative_to(root).as_posix() for f in files]
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


@contextmanager
def _isolated_imports(root: Path) -> Iterator[None]:
    """Put the repository first on ``sys.path`` and undo every import of its files after."""
    modules_before = set(sys.modules)
    path_before = list(sys.path)
    bytecode_before = sys.dont_write_bytecode
    sys.path.insert(0, str(root))
    # Never write .pyc files: a file rewritten within a second must be read again.
    sys.dont_write_bytecode = True
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = path_before
        sys.dont_write_bytecode = bytecode_before
        for name in set(sys.modules) - modules_before:
            if _in_repo(sys.modules.get(name), root):
                del sys.modules[name]
        importlib.invalidate_caches()


def _in_repo(module: ModuleType | None, root: Path) -> bool:
    if module is None:
        return False
    places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    return any(place and Path(place).resolve().is_relative_to(root) for place in places)


def _module_name(root: Path, file: Path) -> str | None:
    """The dotted name the file imports under from the repository root, if it has one."""
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    existing = sys.modules.get(parts[0])
    if existing is not None and not _in_repo(existing, root):
        return None  # the name belongs to an installed module: load the file privately
    return ".".join(parts)


def _import(root: Path, file: Path) -> ModuleType:
    rel = file.relative_to(root)
    name = _module_name(root, file)
    try:
        if name is not None:
            module = sys.modules.get(name)
            if module is not None and _in_repo(module, root):
                return module
            return importlib.import_module(name)
        return _load_private(file, root)
    except DefinitionError as exc:
        raise DefinitionError(f"{rel}: {exc}") from None
    except SyntaxError as exc:
        where = Path(exc.filename).name if exc.filename else rel
        raise DefinitionError(
            f"cannot import {rel}: syntax error in {where} at line {exc.lineno}: {exc.msg}; "
            f"fix the file or list it in {IGNORE_FILE}"
        ) from None
    except Exception as exc:
        raise DefinitionError(
            f"cannot import {rel}: {type(exc).__name__}: {exc}; fix the file or list it in "
            f"{IGNORE_FILE}"
        ) from exc


def import_functions(repo_path: str | Path, references: list[str]) -> dict[str, Any]:
    """Import the objects ``module:qualname`` names, from the repository or installed modules.

    The repository's files import as :func:`load_repo_objects` imports them (and are removed
    from ``sys.modules`` after); a file imported by path is found by its private name.

    Raises:
        DefinitionError: a module cannot be imported or lacks the name.
    """
    root = Path(repo_path).resolve()
    found: dict[str, Any] = {}
    with _isolated_imports(root):
        for reference in references:
            module_name, _, qualname = reference.partition(":")
            try:
                if module_name.startswith(PRIVATE_MODULE_PREFIX):
                    module = _private_module(root, module_name)
                else:
                    module = importlib.import_module(module_name)
                value: Any = module
                for part in qualname.split("."):
                    value = getattr(value, part)
            except DefinitionError:
                raise
            except Exception as exc:
                raise DefinitionError(
                    f"cannot import {reference} ({type(exc).__name__}: {exc}): restore it, or "
                    "change the pipeline and re-apply the repository (`skewless apply`)"
                ) from None
            found[reference] = value
    return found


def _private_module(root: Path, name: str) -> ModuleType:
    module = sys.modules.get(name)
    if module is not None:
        return module
    for file in repo_files(root):
        if _private_name(root, file) == name:
            return _load_private(file, root)
    raise ImportError(f"no file of repository {root} imports as {name}")


def _private_name(root: Path, file: Path) -> str:
    """A stable name for a file whose module name is taken (the same in every process)."""
    rel = file.relative_to(root).with_suffix("").as_posix()
    return PRIVATE_MODULE_PREFIX + "".join(c if c.isalnum() else "_" for c in rel)


def _load_private(file: Path, root: Path) -> ModuleType:
    name = _private_name(root, file)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"no loader for {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
