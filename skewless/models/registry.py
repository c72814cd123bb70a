"""Registered models on MLflow's registry: versions, stages on aliases, promotion, retention.

Stages are the seed's ``None -> Staging -> Production -> Archived``, kept as MLflow aliases:
a version holding the ``staging`` or ``production`` alias is in that stage; a version that left
production carries the tag ``archived=true`` and no alias; any other version is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.errors import ModelRegistryError
from skewless.models.gate_binding import check_gate_report, load_gate_report
from skewless.models.holds import holds_of
from skewless.models.lineage import Lineage
from skewless.models.tracking import Tracking, tracking_for
from skewless.models.versions import (
    ARCHIVED_TAG,
    ModelVersionInfo,
    _aliases,
    _all_versions,
    _is_not_found,
    _version,
    get_version_info,
    load_version,
)

if TYPE_CHECKING:
    from skewless.online_read import OnlineResponse
    from skewless.store import FeatureStore

__all__ = [
    "ARCHIVED_TAG",
    "STAGES",
    "ModelVersionInfo",
    "PromotionResult",
    "apply_retention",
    "get_features_for",
    "get_model_version",
    "get_version_info",
    "list_model_versions",
    "load_model",
    "load_version",
    "model_lineage",
    "promote",
    "required_features",
    "resolve_store",
]

STAGES = ("staging", "production")
"""The stages a version can be promoted to, each an MLflow alias of the same name."""


def resolve_store(store: FeatureStore | None) -> FeatureStore:
    """``store``, or the repository in the working directory."""
    if store is not None:
        return store
    from skewless.store import FeatureStore

    return FeatureStore(repo_path=".")


def _tracking(store: FeatureStore | None) -> tuple[FeatureStore, Tracking]:
    s = resolve_store(store)
    return s, tracking_for(s.config)


def get_model_version(
    name: str, version: str | int = "production", store: FeatureStore | None = None
) -> ModelVersionInfo:
    """The version ``version`` (a number or an alias) of model ``name``.

    Raises:
        UnknownModelError: no such model, version or alias.
    """
    _, tracking = _tracking(store)
    return get_version_info(tracking, name, version)


def list_model_versions(name: str, store: FeatureStore | None = None) -> list[ModelVersionInfo]:
    """Every version of model ``name``, oldest first."""
    _, tracking = _tracking(store)
    with tracking.active() as client:
        held = _aliases(client, name)
        return [
            ModelVersionInfo.from_mlflow(mv, held.get(int(mv.version), []))
            for mv in _all_versions(client, name)
        ]


def model_lineage(
    name: str, version: str | int = "production", store: FeatureStore | None = None
) -> Lineage:
    """What version ``version`` of model ``name`` was trained on.

    Raises:
        UnknownModelError: no such model or version.
        ModelRegistryError: the version was not logged by skewless (no lineage tags).
    """
    info = get_model_version(name, version, store)
    if info.lineage is None:
        raise ModelRegistryError(
            f"model {name!r} version {info.version} carries no skewless lineage: log it with "
            "skewless.models.log_model(..., dataset=NAME)"
        )
    return info.lineage


def required_features(
    name: str, version: str | int = "production", store: FeatureStore | None = None
) -> list[str]:
    """The ``view:feature`` refs the model needs, in its input order.

    Example:
        >>> required_features("churn", "production", store)  # doctest: +SKIP
        ['user_stats:total_purchases', 'user_stats:avg_purchase_amount']
    """
    return list(model_lineage(name, version, store).feature_refs)


def get_features_for(
    name: str,
    entity_rows: Any,
    version: str | int = "production",
    store: FeatureStore | None = None,
) -> OnlineResponse:
    """The latest values of the features the model needs, for ``entity_rows``, online.

    The response's columns carry the names the model was trained on; order them with
    ``response.to_df()[lineage.feature_columns]``.
    """
    s = resolve_store(store)
    lineage = model_lineage(name, version, s)
    return s.get_online_features(
        list(lineage.feature_refs), entity_rows, full_feature_names=lineage.full_feature_names
    )


def load_model(
    name: str, version: str | int = "production", store: FeatureStore | None = None
) -> Any:
    """The version as an ``mlflow.pyfunc`` model (``models:/NAME@alias`` for an alias)."""
    _, tracking = _tracking(store)
    with tracking.active() as client:
        mv = _version(client, name, version)
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}")


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion did.

    Attributes:
        name: the model.
        version: the promoted version.
        stage: ``staging`` or ``production``.
        archived: the version that left production (None when there was none).
        deleted: versions removed by the retention rule.
    """

    name: str
    version: int
    stage: str
    archived: int | None
    deleted: tuple[int, ...]


def promote(
    name: str,
    version: str | int,
    to: str,
    *,
    store: FeatureStore | None = None,
    gate_report: str | Path | dict[str, Any] | None = None,
    keep: int | None = None,
) -> PromotionResult:
    """Move version ``version`` of model ``name`` to ``staging`` or ``production``.

    Promoting to production moves the ``production`` alias and archives the version that
    held it (alias removed, tag ``archived=true``). The version leaves ``staging`` when it
    reaches production. Then the retention rule deletes versions beyond the latest ``keep``
    (default ``mlflow.keep_versions``, 3), never one that holds an alias.

    Args:
        gate_report: a gate report (path or dict); the promotion is refused unless it is
            this version's latest gate report, unchanged, and passed (see
            :mod:`skewless.models.gate_binding`).

    Raises:
        UnknownModelError: no such model or version.
        ModelRegistryError: a bad stage, a failed gate; nothing is changed.
    """
    stage = str(to).strip().lower()
    if stage not in STAGES:
        raise ModelRegistryError(f"cannot promote to {to!r}: use one of {', '.join(STAGES)}")
    s, tracking = _tracking(store)
    keep = tracking.keep_versions if keep is None else keep
    if keep < 1:
        raise ModelRegistryError(f"keep is {keep}: keep at least 1 version")
    report = load_gate_report(gate_report, name) if gate_report is not None else None
    with tracking.active() as client:
        mv = _version(client, name, version)
        number = int(mv.version)
        if report is not None:
            check_gate_report(report, name, mv, s)
        previous: int | None = None
        try:
            held = client.get_model_version_by_alias(name, stage)
            previous = int(held.version)
        except Exception as exc:
            if not _is_not_found(exc):
                raise
        aliases = set(_aliases(client, name).get(number, []))
        archived = _apply_promotion(
            client, name, number, stage, previous, aliases, dict(mv.tags or {})
        )
        deleted = _retain(client, name, keep)
    return PromotionResult(name, number, stage, archived, tuple(deleted))


def _apply_promotion(
    client: Any,
    name: str,
    number: int,
    stage: str,
    previous: int | None,
    aliases: set[str],
    tags: dict[str, str],
) -> int | None:
    """Set the alias, then archive; on a failure the alias goes back where it was."""
    client.set_registered_model_alias(name, stage, str(number))
    archived = None
    try:
        if ARCHIVED_TAG in tags:
            client.delete_model_version_tag(name, str(number), ARCHIVED_TAG)
        if stage == "production":
            if "staging" in aliases:
                client.delete_registered_model_alias(name, "staging")
            if previous is not None and previous != number:
                client.set_model_version_tag(name, str(previous), ARCHIVED_TAG, "true")
                archived = previous
    except Exception:
        _undo(client, name, stage, previous)
        raise
    return archived


def _undo(client: Any, name: str, stage: str, previous: int | None) -> None:
    try:
        if previous is None:
            client.delete_registered_model_alias(name, stage)
        else:
            client.set_registered_model_alias(name, stage, str(previous))
    except Exception:  # pragma: no cover - the original error is the one worth reporting
        pass


def _retain(client: Any, name: str, keep: int) -> list[int]:
    """Delete versions beyond the latest ``keep``, except those with an alias, a hold that
    has not lapsed (:mod:`skewless.models.holds`) or the rollback target."""
    versions = _all_versions(client, name)
    held = _aliases(client, name)
    now = datetime.now(UTC)
    archived = [mv for mv in versions if (mv.tags or {}).get(ARCHIVED_TAG) == "true"]
    rollback = int(max(archived, key=_archived_order).version) if archived else None
    deleted = []
    for mv in versions[: max(len(versions) - keep, 0)]:
        number = int(mv.version)
        if held.get(number) or number == rollback or holds_of(mv.tags or {}, now):
            continue
        client.delete_model_version(name, str(mv.version))
        deleted.append(int(mv.version))
    return deleted


def _archived_order(mv: Any) -> tuple[int, int]:
    """Most recently archived last: by the update time MLflow keeps, then the number."""
    return (int(getattr(mv, "last_updated_timestamp", 0) or 0), int(mv.version))


def apply_retention(
    name: str, keep: int | None = None, store: FeatureStore | None = None
) -> list[int]:
    """Delete versions of ``name`` older than the latest ``keep``, except those holding an
    alias; returns the deleted version numbers."""
    _, tracking = _tracking(store)
    keep = tracking.keep_versions if keep is None else keep
    if keep < 1:
        raise ModelRegistryError(f"keep is {keep}: keep at least 1 version")
    with tracking.active() as client:
        return _retain(client, name, keep)
