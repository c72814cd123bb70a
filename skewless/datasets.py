"""Saved training datasets: a retrieval's output as Parquet, its lineage and its statistics.

``job.save_dataset(name)`` writes the rows to ``<repo>/data/datasets/`` (a temporary file,
flushed, then renamed) and only then records the metadata in the registry; if recording
fails the file is removed, so a failed save leaves nothing behind. The metadata holds the
feature references with the definition hash of each view at save time, a fingerprint of the
entity rows, the time range and per-column statistics: the reference later compared with
live data to detect drift. See docs/datasets.md.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skewless._files import write_parquet_atomically
from skewless._time import parse_time, to_utc
from skewless.dataset_stats import (
    HISTOGRAM_BINS,
    OTHER,
    QUANTILES,
    TOP_CATEGORIES,
    column_stats,
    entity_fingerprint,
    time_range,
    type_name,
    utc_times,
)
from skewless.errors import (
    DefinitionError,
    RegistryConflictError,
    SourceNotFoundError,
    TimeRangeError,
    UnknownObjectError,
)
from skewless.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATASETS_DIR",
    "HISTOGRAM_BINS",
    "OTHER",
    "QUANTILES",
    "TOP_CATEGORIES",
    "DatasetCatalog",
    "SavedDataset",
    "column_stats",
    "entity_fingerprint",
]

DATASETS_DIR = Path("data") / "datasets"
"""Where dataset files live, relative to the repository."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_US_UTC = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class SavedDataset:
    """A saved training dataset: where its rows are and what they are.

    Attributes:
        name: the dataset's name, unique in the project.
        path: the Parquet file (absolute), under ``<repo>/data/datasets/``.
        feature_refs: ``view:feature`` as retrieved (on-demand refs too).
        feature_versions: view (or on-demand view) name -> its definition hash in the
            registry at save time.
        feature_service: the FeatureService the features were retrieved through, if any.
        entity_fingerprint: sha256 of the rows' entity columns (see :func:`entity_fingerprint`).
        rows: the number of rows.
        start: the earliest ``event_timestamp`` (UTC), None when there are no rows.
        end: the latest ``event_timestamp`` (UTC), None when there are no rows.
        columns: column -> skewless type name (``Float64``, ``Int64``, ``String``, ...).
        stats: column -> statistics (see :func:`column_stats`).
        created_at: when it was saved (UTC).
        parent: for a split, the dataset it was split from.
        split: for a split, ``{"at": ISO time, "side": "before" | "after"}``.
        description: free text given when saving.
        entity_columns: the entity frame's columns (the first columns of the rows).
    """

    name: str
    path: Path
    feature_refs: tuple[str, ...]
    feature_versions: dict[str, str]
    feature_service: str | None
    entity_fingerprint: str
    rows: int
    start: datetime | None
    end: datetime | None
    columns: dict[str, str]
    stats: dict[str, dict[str, Any]]
    created_at: datetime
    parent: str | None = None
    split: dict[str, Any] | None = None
    description: str = ""
    entity_columns: tuple[str, ...] = field(default=())

    def to_arrow(self) -> pa.Table:
        """The rows, as saved."""
        if not self.path.exists():
            raise SourceNotFoundError(
                f"the file of dataset {self.name!r} is missing ({self.path}): save the dataset "
                "again, or restore the file"
            )
        return pq.read_table(self.path)

    def to_df(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def to_spec(self, repo_path: Path) -> dict[str, Any]:
        """The metadata as the registry stores it (the path relative to the repository)."""
        path = self.path.relative_to(repo_path) if self.path.is_relative_to(repo_path) else None
        return {
            "name": self.name,
            "path": str(path if path is not None else self.path),
            "feature_refs": list(self.feature_refs),
            "feature_versions": self.feature_versions,
            "feature_service": self.feature_service,
            "entity_fingerprint": self.entity_fingerprint,
            "entity_columns": list(self.entity_columns),
            "rows": self.rows,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "columns": self.columns,
            "stats": self.stats,
            "created_at": _iso(self.created_at),
            "parent": self.parent,
            "split": self.split,
            "description": self.description,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any], repo_path: Path) -> SavedDataset:
        """The dataset a registry spec describes (a relative path is under ``repo_path``)."""
        return cls(
            name=spec["name"],
            path=(repo_path / spec["path"]).resolve(),
            feature_refs=tuple(spec["feature_refs"]),
            feature_versions=dict(spec["feature_versions"]),
            feature_service=spec.get("feature_service"),
            entity_fingerprint=spec["entity_fingerprint"],
            rows=int(spec["rows"]),
            start=_from_iso(spec.get("start")),
            end=_from_iso(spec.get("end")),
            columns=dict(spec["columns"]),
            stats=dict(spec["stats"]),
            created_at=_from_iso(spec["created_at"]) or datetime.now(UTC),
            parent=spec.get("parent"),
            split=spec.get("split"),
            description=spec.get("description", ""),
            entity_columns=tuple(spec.get("entity_columns", ())),
        )


class DatasetCatalog:
    """The saved datasets of one repository: files under ``data/datasets/``, records in the
    registry.

    Args:
        registry: holds each dataset's record (its metadata).
        repo_path: the repository the files live in.
        clock: "now" (UTC) for ``created_at``.
    """

    def __init__(
        self, registry: Registry, repo_path: str | Path, clock: Callable[[], datetime]
    ) -> None:
        self.registry = registry
        self.repo = Path(repo_path).resolve()
        self.clock = clock

    # -- saving -------------------------------------------------------------------------------
    def save(
        self,
        table: pa.Table,
        name: str,
        *,
        feature_refs: Sequence[str],
        feature_views: Sequence[str],
        feature_service: str | None,
        entity_columns: Sequence[str],
        overwrite: bool = False,
        description: str = "",
    ) -> SavedDataset:
        """Save retrieved rows as the dataset ``name``: file first, then the registry record.

        ``feature_views`` are the views retrieved from: the record keeps the definition hash
        each has in the registry now.

        Raises:
            DefinitionError: ``name`` is not a valid dataset name.
            RegistryConflictError: the dataset exists and ``overwrite`` is false.
        """
        self._check_new(name, overwrite)
        return self._save(
            table,
            name,
            overwrite=overwrite,
            feature_refs=tuple(feature_refs),
            feature_versions=self._feature_versions(feature_views),
            feature_service=feature_service,
            entity_columns=tuple(c for c in entity_columns if c in table.column_names),
            description=description,
        )

    def _check_new(
        self,
        name: str,
        overwrite: bool,
        fix: str = "pass overwrite=True to replace it, or choose another name",
    ) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise DefinitionError(
                f"dataset name {name!r} is not valid: use letters, digits, '_', '-' and '.', "
                "starting with a letter or digit (at most 128 characters)"
            )
        if not overwrite and self.registry.get_dataset_spec(name) is not None:
            raise RegistryConflictError(f"dataset {name!r} already exists: {fix}")

    def _feature_versions(self, views: Sequence[str]) -> dict[str, str]:
        _, records = self.registry.records()
        versions: dict[str, str] = {}
        for view in views:
            for kind in ("feature_view", "on_demand_feature_view"):
                record = records.get((kind, view))
                if record is not None:
                    versions[view] = record.hash
                    break
        return versions

    def _save(
        self,
        table: pa.Table,
        name: str,
        *,
        overwrite: bool,
        feature_refs: tuple[str, ...],
        feature_versions: dict[str, str],
        feature_service: str | None,
        entity_columns: tuple[str, ...],
        description: str = "",
        parent: str | None = None,
        split: dict[str, Any] | None = None,
    ) -> SavedDataset:
        repo = self.repo
        start, end = time_range(table)
        directory = repo / DATASETS_DIR
        target = directory / f"{name}-{uuid.uuid4().hex[:12]}.parquet"
        dataset = SavedDataset(
            name=name,
            path=target,
            feature_refs=feature_refs,
            feature_versions=feature_versions,
            feature_service=feature_service,
            entity_fingerprint=entity_fingerprint(table.select(list(entity_columns))),
            rows=table.num_rows,
            start=start,
            end=end,
            columns={c: type_name(table.schema.field(c).type) for c in table.column_names},
            stats={c: column_stats(table.column(c)) for c in table.column_names},
            created_at=to_utc(self.clock()),
            parent=parent,
            split=split,
            description=description,
            entity_columns=entity_columns,
        )
        text = orjson.dumps(dataset.to_spec(repo)).decode()
        write_parquet_atomically(table, target)
        try:
            _write_profile(table, target)
            replaced = self.registry.put_dataset(name, text, overwrite)
        except BaseException:
            _remove_files(target)
            raise
        if replaced is not None:
            old = SavedDataset.from_spec(orjson.loads(replaced), repo).path
            if old != target and old.is_relative_to(directory):
                _remove_files(old)
        return dataset

    # -- reading ------------------------------------------------------------------------------
    def get(self, name: str) -> SavedDataset:
        """The saved dataset ``name``.

        Raises:
            UnknownObjectError: no such dataset (the message lists the known ones).
        """
        text = self.registry.get_dataset_spec(name)
        if text is None:
            known = [n for n, _ in self.registry.list_dataset_specs()]
            raise UnknownObjectError(
                f"no dataset named {name!r} (known: "
                f"{', '.join(known) or 'none yet; save one with job.save_dataset(name)'})"
            )
        return SavedDataset.from_spec(orjson.loads(text), self.repo)

    def all(self) -> list[SavedDataset]:
        """Every saved dataset of the project, by name."""
        return [
            SavedDataset.from_spec(orjson.loads(text), self.repo)
            for _, text in self.registry.list_dataset_specs()
        ]

    # -- splitting ----------------------------------------------------------------------------
    def split(
        self, name: str, at: datetime | str, *, names: Sequence[str] | None = None
    ) -> tuple[SavedDataset, SavedDataset]:
        """Split dataset ``name`` by time: rows with ``event_timestamp < at`` and the others.

        Each side is saved as its own dataset whose ``parent`` is ``name``; they are named
        ``{name}_train`` and ``{name}_holdout`` unless ``names`` gives two names. The sides
        keep the parent's feature references and versions.

        Raises:
            UnknownObjectError: no dataset ``name``.
            TimeRangeError: ``at`` is not a time, or leaves one side empty.
            RegistryConflictError: a dataset of either target name exists already.
        """
        parent = self.get(name)
        cut = parse_time(at, "split time")
        first, second = _split_names(name, names)
        for target in (first, second):
            self._check_new(target, False, "choose other names for the split (names=A,B)")
        table = parent.to_arrow()
        before = pc.fill_null(pc.less(utc_times(table), pa.scalar(cut, _US_UTC)), False)
        sides = (table.filter(before), table.filter(pc.invert(before)))
        for side, rows in zip(("before", "after"), sides, strict=True):
            if rows.num_rows == 0:
                raise TimeRangeError(
                    f"splitting dataset {name!r} at {cut.isoformat()} leaves no rows {side} it "
                    f"(its rows span {_iso(parent.start)} to {_iso(parent.end)}): pick a time "
                    "inside that range"
                )
        saved: list[SavedDataset] = []
        try:
            for target, side, rows in zip((first, second), ("before", "after"), sides, strict=True):
                saved.append(
                    self._save(
                        rows,
                        target,
                        overwrite=False,
                        feature_refs=parent.feature_refs,
                        feature_versions=parent.feature_versions,
                        feature_service=parent.feature_service,
                        entity_columns=parent.entity_columns,
                        description=f"rows of {name!r} {side} {cut.isoformat()}",
                        parent=name,
                        split={"at": cut.isoformat(), "side": side},
                    )
                )
        except BaseException:
            for done in saved:  # all or nothing
                self.registry.delete_dataset(done.name)
                _remove_files(done.path)
            raise
        return saved[0], saved[1]


def _write_profile(table: pa.Table, target: Path) -> None:
    """The dataset's profile (docs/monitoring.md, "Profiles") beside its file."""
    from skewless.monitoring.profile import profile_file
    from skewless.monitoring.profile_build import DATASET_BINS, build_profile

    build_profile(table, bins=DATASET_BINS).save(profile_file(target))


def _remove_files(target: Path) -> None:
    """A dataset's file and its profile."""
    from skewless.monitoring.profile import profile_file

    target.unlink(missing_ok=True)
    profile_file(target).unlink(missing_ok=True)


def _split_names(name: str, names: Sequence[str] | None) -> tuple[str, str]:
    if names is None:
        return f"{name}_train", f"{name}_holdout"
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    if len(names) != 2 or names[0] == names[1]:
        raise DefinitionError(
            f"names must be two different dataset names (before, after), not {list(names)!r}"
        )
    return names[0], names[1]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_utc(value).isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else to_utc(datetime.fromisoformat(text))
