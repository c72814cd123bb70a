"""Registered model versions on MLflow, read through a :class:`Tracking` (no feature store).

The services that hold no store (the prediction server, batch inference) resolve and load
versions here; :mod:`skewless.models.registry` wraps these for callers holding a store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skewless.errors import UnknownModelError
from skewless.models.lineage import Lineage

if TYPE_CHECKING:
    from skewless.models.tracking import Tracking

__all__ = ["ARCHIVED_TAG", "ModelVersionInfo", "get_version_info", "load_version"]

ARCHIVED_TAG = "archived"


def _is_not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return "RESOURCE_DOES_NOT_EXIST" in str(code) or "INVALID_PARAMETER_VALUE" in str(code)


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version, as skewless sees it.

    Attributes:
        name: the registered model.
        version: the version number.
        stage: ``Production``, ``Staging``, ``Archived`` or ``None``.
        aliases: the MLflow aliases the version holds.
        tags: the version's tags.
        run_id: the MLflow run that logged it.
        source: the artifact URI of the logged model.
        created_at: when it was registered (UTC).
        lineage: what it was trained on (None for a model logged outside skewless).
    """

    name: str
    version: int
    stage: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    run_id: str
    source: str
    created_at: datetime | None
    lineage: Lineage | None = field(default=None, compare=False)

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION``: loads this version with ``mlflow.pyfunc.load_model``."""
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def from_mlflow(cls, mv: Any, aliases: Iterable[str] | None = None) -> ModelVersionInfo:
        """``aliases`` overrides the version's own (search results may not carry them)."""
        tags = {str(k): str(v) for k, v in (mv.tags or {}).items()}
        held = aliases if aliases is not None else getattr(mv, "aliases", None) or ()
        aliases = tuple(sorted(held))
        if "production" in aliases:
            stage = "Production"
        elif "staging" in aliases:
            stage = "Staging"
        elif tags.get(ARCHIVED_TAG) == "true":
            stage = "Archived"
        else:
            stage = "None"
        created = (
            datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
            if mv.creation_timestamp
            else None
        )
        return cls(
            name=mv.name,
            version=int(mv.version),
            stage=stage,
            aliases=aliases,
            tags=tags,
            run_id=mv.run_id or "",
            source=mv.source or "",
            created_at=created,
            lineage=Lineage.from_tags(tags),
        )


def _registered(client: Any, name: str) -> Any:
    try:
        return client.get_registered_model(name)
    except Exception as exc:
        if _is_not_found(exc):
            raise UnknownModelError(
                f"no registered model {name!r}: log one with skewless.models.log_model(model, "
                f"{name!r}, dataset=...), or check the name with `skewless models list`"
            ) from None
        raise


def _version(client: Any, name: str, version: str | int) -> Any:
    """The MLflow version ``version`` (a number, or an alias such as ``production``)."""
    _registered(client, name)
    text = str(version).strip()
    if text.isdigit():
        try:
            return client.get_model_version(name, text)
        except Exception as exc:
            if _is_not_found(exc):
                raise UnknownModelError(
                    f"model {name!r} has no version {text}: see `skewless models list {name}`"
                ) from None
            raise
    try:
        return client.get_model_version_by_alias(name, text.lower())
    except Exception as exc:
        if _is_not_found(exc):
            raise UnknownModelError(
                f"no version of model {name!r} holds the alias {text!r}: promote one with "
                f"`skewless models promote {name} VERSION --to {text.lower()}`"
            ) from None
        raise


def _all_versions(client: Any, name: str) -> list[Any]:
    _registered(client, name)
    found = client.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda mv: int(mv.version))


def _aliases(client: Any, name: str) -> dict[int, list[str]]:
    """Version -> the aliases it holds (from the registered model, which always has them)."""
    held: dict[int, list[str]] = {}
    for alias, version in (_registered(client, name).aliases or {}).items():
        held.setdefault(int(version), []).append(str(alias))
    return held


def get_version_info(tracking: Tracking, name: str, version: str | int) -> ModelVersionInfo:
    """:func:`get_model_version` on a :class:`Tracking` (for services that hold no store).

    Leaves MLflow's process-wide URIs alone, so it is safe in a background thread."""
    client = tracking.client()
    mv = _version(client, name, version)
    return ModelVersionInfo.from_mlflow(mv, _aliases(client, name).get(int(mv.version), []))


def load_version(tracking: Tracking, name: str, version: int) -> Any:
    """Version number ``version`` of ``name`` as an ``mlflow.pyfunc`` model (loaded from
    its artifact location, without touching MLflow's process-wide URIs)."""
    import mlflow.pyfunc

    client = tracking.client()
    uri = client.get_model_version_download_uri(name, str(int(version)))
    if uri.startswith(("mlflow-artifacts:", "models:", "runs:")):
        with tracking.active():  # resolved through the tracking server
            return mlflow.pyfunc.load_model(uri)
    return mlflow.pyfunc.load_model(uri)
