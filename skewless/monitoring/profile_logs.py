"""The profiles of a prediction log: one per day partition, cached, merged over a window.

A day's profile is the merge of the profiles of its visible files (those a reader sees; see
:func:`skewless.serving.log_files.visible_files`), so files written by model versions with
different columns merge as DuckDB's ``union_by_name`` reads them: a column a file lacks counts
as null there. It is cached in ``<log>/_profiles/date=YYYY-MM-DD.json`` with the names, sizes
and modification times of the files it was built from; a cached profile is used only while
those are unchanged (a new part, a compaction or a removed day builds it again).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from skewless.errors import PredictionLogError, ProfileError
from skewless.monitoring.profile import FORMAT_VERSION, Profile
from skewless.monitoring.profile_build import build_profile
from skewless.serving.log_files import log_dir, partition_name, visible_files

__all__ = ["PROFILES_DIR", "SKIPPED_COLUMNS", "log_partition_profile", "log_window_profile"]

PROFILES_DIR = "_profiles"
SKIPPED_COLUMNS = ("request_id",)
"""Log columns left out of a partition's profile: identifiers, not distributions."""


def _fingerprint(files: Sequence[Path]) -> list[list[Any]]:
    out = []
    for path in files:
        stat = path.stat()
        out.append([path.name, stat.st_size, stat.st_mtime_ns])
    return out


def _cache_path(root: Path, model_name: str, day: date) -> Path:
    return log_dir(root, model_name) / PROFILES_DIR / f"{partition_name(day)}.json"


def log_partition_profile(
    root: str | Path,
    model_name: str,
    day: date,
    *,
    bins: Mapping[str, Sequence[float]] | None = None,
) -> Profile:
    """The profile of the day partition ``day`` of the prediction log ``model_name`` of the
    repository ``root`` (an empty profile for a day without files).

    Args:
        bins: fixed bin edges per numeric column (e.g. the reference's), for exact
            histograms; a cached profile is reused only when it was built with the same bins.

    Raises:
        PredictionLogError: ``model_name`` is not a valid log name.
    """
    root = Path(root)
    partition = log_dir(root, model_name) / partition_name(day)
    files = visible_files(partition)
    try:
        key = {"files": _fingerprint(files), "bins": _bins_key(bins)}
    except FileNotFoundError:  # a compaction replaced a file meanwhile: read the new listing
        files = visible_files(partition)
        key = {"files": _fingerprint(files), "bins": _bins_key(bins)}
    cache = _cache_path(root, model_name, day)
    cached = _read_cache(cache, key)
    if cached is not None:
        return cached
    profile = Profile.merge_all(_group_profiles(files, bins))
    if files:
        _write_cache(cache, key, profile)
    return profile


def log_window_profile(
    root: str | Path,
    model_name: str,
    first: date,
    last: date,
    *,
    bins: Mapping[str, Sequence[float]] | None = None,
) -> Profile:
    """The merge of the day profiles from ``first`` to ``last`` (both included)."""
    if last < first:
        raise PredictionLogError(
            f"the window ends ({last}) before it starts ({first}): pass the first day first"
        )
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return Profile.merge_all([log_partition_profile(root, model_name, d, bins=bins) for d in days])


def _group_profiles(
    files: Sequence[Path], bins: Mapping[str, Sequence[float]] | None
) -> list[Profile]:
    """One profile per group of files of one schema (files of one model version share it)."""
    groups: dict[Any, list[Path]] = {}
    for path in files:
        schema = pq.read_schema(path).remove_metadata()
        groups.setdefault(schema, []).append(path)
    out = []
    for schema, paths in groups.items():
        names = [n for n in schema.names if n not in SKIPPED_COLUMNS]
        wanted = {c: e for c, e in (bins or {}).items() if c in names}
        out.append(build_profile([str(p) for p in paths], columns=names, bins=wanted or None))
    return out


def _bins_key(bins: Mapping[str, Sequence[float]] | None) -> dict[str, list[float]]:
    return {c: [float(e) for e in edges] for c, edges in sorted((bins or {}).items())}


def _read_cache(path: Path, key: dict[str, Any]) -> Profile | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if data.get("key") != orjson.loads(orjson.dumps(key)):
        return None
    profile = data.get("profile") or {}
    if profile.get("format_version") != FORMAT_VERSION:
        return None
    try:
        return Profile.from_bytes(orjson.dumps(profile))
    except (ProfileError, ValueError, KeyError):
        return None


def _write_cache(path: Path, key: dict[str, Any], profile: Profile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(orjson.dumps({"key": key, "profile": profile.to_dict()}))
    os.replace(temporary, path)
