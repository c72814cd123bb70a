"""The profiles of saved datasets: written beside each dataset's Parquet file when it is saved,
read back as the reference of a drift test without re-reading the rows.

A dataset saved before profiles existed has only the statistics of its registry record; it
reads as a format 1 profile (:meth:`Profile.from_dataset_stats`), and
``skewless datasets profile NAME`` (:func:`reprofile_dataset`) writes its format 2 profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skewless.errors import ProfileError, SourceNotFoundError
from skewless.monitoring.profile import Profile, profile_file
from skewless.monitoring.profile_build import DATASET_BINS, build_profile

if TYPE_CHECKING:
    from skewless.datasets import DatasetCatalog

__all__ = ["DATASET_BINS", "dataset_profile", "reprofile_dataset"]


def dataset_profile(catalog: DatasetCatalog, name: str) -> Profile:
    """The stored profile of dataset ``name`` of ``catalog`` (a ``DatasetCatalog``, e.g.
    ``store.datasets``): format 2 from its profile file, else format 1 from its record.

    Raises:
        UnknownObjectError: no such dataset.
        ProfileError: the profile file cannot be read (it says how to rebuild it).
    """
    dataset = catalog.get(name)
    path = profile_file(dataset.path)
    if not path.exists():
        return Profile.from_dataset_stats(dataset.rows, dataset.stats, dataset.columns)
    try:
        return Profile.load(path)
    except (OSError, ValueError) as exc:
        raise ProfileError(
            f"the profile of dataset {name!r} ({path}) cannot be read ({exc}): re-profile it "
            f"with `skewless datasets profile {name}`"
        ) from exc


def reprofile_dataset(catalog: DatasetCatalog, name: str) -> Profile:
    """Rebuild and store the profile of the saved dataset ``name`` from its Parquet file.

    Raises:
        UnknownObjectError: no such dataset.
        SourceNotFoundError: its file is missing.
    """
    dataset = catalog.get(name)
    if not dataset.path.exists():
        raise SourceNotFoundError(
            f"the file of dataset {name!r} is missing ({dataset.path}): save the dataset again, "
            "or restore the file"
        )
    profile = build_profile(dataset.path, bins=DATASET_BINS)
    profile.save(profile_file(dataset.path))
    return profile
