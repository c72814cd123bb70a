"""Lineage: what a model was trained on, written as MLflow tags and read back.

Tags (on the run and on the model version), all prefixed ``skewless.``:

========================  ==========================================================
``dataset``               the saved dataset's name
``dataset_fingerprint``   the dataset's entity fingerprint
``feature_refs``          JSON list of ``view:feature``, in the model's input order
``feature_columns``       JSON list of the input column names, same order
``feature_service``       the feature service (empty when none)
``feature_versions``      JSON object view -> definition hash
``version.<view>``        one tag per view with its definition hash
``label``                 the target column
``task``                  ``classifier`` or ``regressor``
``project``               the feature store project
========================  ==========================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skewless.errors import GateInputError

if TYPE_CHECKING:
    import pandas as pd

    from skewless.datasets import SavedDataset

__all__ = [
    "PREFIX",
    "Lineage",
    "feature_columns",
    "infer_label",
]

PREFIX = "skewless."
_TIME = "event_timestamp"


def feature_columns(dataset: SavedDataset) -> list[str]:
    """The dataset's feature columns, in the order of its feature refs.

    A ref ``view:feature`` is the column ``feature``, or ``view__feature`` when the dataset
    was retrieved with full feature names.

    Raises:
        GateInputError: a ref has no column in the dataset.
    """
    out = []
    for ref in dataset.feature_refs:
        view, _, name = ref.partition(":")
        for candidate in (name, f"{view}__{name}"):
            if candidate in dataset.columns:
                out.append(candidate)
                break
        else:
            raise GateInputError(
                f"dataset {dataset.name!r} has no column for feature {ref!r}: save it again"
            )
    return out


def infer_label(
    dataset: SavedDataset, label: str | None = None, join_keys: Sequence[str] = ()
) -> str:
    """The label column: ``label`` when given (checked), else the one column that is neither
    a join key, ``event_timestamp`` nor a feature.

    Raises:
        GateInputError: the label is missing, or it cannot be told apart.
    """
    if label is not None:
        if label not in dataset.columns:
            raise GateInputError(
                f"dataset {dataset.name!r} has no label column {label!r} "
                f"(columns: {', '.join(dataset.columns)}); save the labels in the entity frame"
            )
        return label
    taken = {*feature_columns(dataset), *join_keys, _TIME}
    rest = [c for c in dataset.columns if c not in taken]
    if len(rest) == 1:
        return rest[0]
    found = ", ".join(rest) if rest else "none"
    raise GateInputError(
        f"cannot tell the label column of dataset {dataset.name!r} (candidates: {found}): "
        "pass label=NAME"
    )


@dataclass(frozen=True)
class Lineage:
    """What a model was trained on.

    Attributes:
        dataset: the saved dataset's name.
        dataset_fingerprint: its entity fingerprint.
        feature_refs: ``view:feature`` in the model's input order.
        feature_columns: the model's input column names, same order.
        feature_service: the feature service, if the dataset came from one.
        feature_versions: view -> definition hash at training time.
        label: the target column.
        task: ``classifier`` or ``regressor``.
        project: the feature store project.
    """

    dataset: str
    dataset_fingerprint: str
    feature_refs: tuple[str, ...]
    feature_columns: tuple[str, ...]
    feature_service: str | None
    feature_versions: dict[str, str] = field(default_factory=dict)
    label: str = ""
    task: str = ""
    project: str = ""

    @property
    def full_feature_names(self) -> bool:
        """Whether the inputs are named ``view__feature``."""
        return any("__" in c for c in self.feature_columns) and all(
            c == r.replace(":", "__", 1)
            for c, r in zip(self.feature_columns, self.feature_refs, strict=False)
        )

    def to_tags(self) -> dict[str, str]:
        """The lineage as MLflow tags."""
        tags = {
            "dataset": self.dataset,
            "dataset_fingerprint": self.dataset_fingerprint,
            "feature_refs": json.dumps(list(self.feature_refs)),
            "feature_columns": json.dumps(list(self.feature_columns)),
            "feature_service": self.feature_service or "",
            "feature_versions": json.dumps(self.feature_versions, sort_keys=True),
            "label": self.label,
            "task": self.task,
            "project": self.project,
        }
        tags.update({f"version.{view}": h for view, h in self.feature_versions.items()})
        return {PREFIX + k: v for k, v in tags.items()}

    @classmethod
    def from_tags(cls, tags: Mapping[str, Any]) -> Lineage | None:
        """The lineage recorded in ``tags``; None when the model was not logged by skewless."""
        t = {k.removeprefix(PREFIX): str(v) for k, v in tags.items() if k.startswith(PREFIX)}
        if "dataset" not in t or "feature_refs" not in t:
            return None
        refs = tuple(json.loads(t["feature_refs"]))
        columns = tuple(json.loads(t.get("feature_columns", "[]"))) or tuple(
            r.partition(":")[2] for r in refs
        )
        return cls(
            dataset=t["dataset"],
            dataset_fingerprint=t.get("dataset_fingerprint", ""),
            feature_refs=refs,
            feature_columns=columns,
            feature_service=t.get("feature_service") or None,
            feature_versions=dict(json.loads(t.get("feature_versions", "{}"))),
            label=t.get("label", ""),
            task=t.get("task", ""),
            project=t.get("project", ""),
        )

    def frame(self, data: pd.DataFrame) -> pd.DataFrame:
        """The model's input columns of ``data``, in order."""
        return data[list(self.feature_columns)]
