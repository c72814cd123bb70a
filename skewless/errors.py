"""The one error hierarchy of skewless.

Every message names what was wrong and how to fix it. The CLI prints ``str(error)`` as a
single line for any :class:`SkewlessError`.
"""

from __future__ import annotations

__all__ = [
    "AlertDeliveryError",
    "ConfigError",
    "DefinitionError",
    "DriftInputError",
    "EmbeddingsUnavailableError",
    "EntityFrameError",
    "ExperimentInputError",
    "FeatureNotFoundError",
    "FeatureServerError",
    "FeedbackError",
    "GateInputError",
    "MaterializationError",
    "MissingEntitiesError",
    "ModelCompressionError",
    "ModelLineageError",
    "ModelPredictionError",
    "ModelRegistryError",
    "MonitorInputError",
    "OnDemandFeatureError",
    "OnlineStoreError",
    "OnlineStoreUnavailableError",
    "PipelineInputError",
    "PipelineStepError",
    "PredictionLogError",
    "ProfileError",
    "PushValidationError",
    "RegistryConflictError",
    "RegistryError",
    "RegistryUnavailableError",
    "SchemaMismatchError",
    "SkewlessError",
    "SourceNotFoundError",
    "StoreUnavailableError",
    "TimeRangeError",
    "TrackingServerError",
    "UnknownModelError",
    "UnknownObjectError",
]


class SkewlessError(Exception):
    """Base class of every error skewless raises on purpose."""


class DefinitionError(SkewlessError, ValueError):
    """A definition (entity, view, source, service) is invalid as written."""


class ConfigError(SkewlessError):
    """``feature_store.yaml`` is missing, malformed or names an unknown backend."""


class RegistryError(SkewlessError):
    """The registry cannot be read or written."""


class RegistryConflictError(RegistryError):
    """Another process changed an object between this process's plan and its apply."""


class UnknownObjectError(SkewlessError, KeyError):
    """A name (view, entity, service, dataset) is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FeatureNotFoundError(UnknownObjectError):
    """A feature reference names a view or feature that does not exist."""


class SchemaMismatchError(SkewlessError):
    """A definition does not match the real schema of its source."""


class SourceNotFoundError(SkewlessError, FileNotFoundError):
    """A source path matches no file."""


class EntityFrameError(SkewlessError, ValueError):
    """The entity frame (or entity rows) lacks a column or holds bad values."""


class OnDemandFeatureError(SkewlessError):
    """An on-demand feature's function failed or returned bad values at read time."""


class PushValidationError(EntityFrameError):
    """Pushed rows lack a column or hold a value their view cannot store; nothing was written."""


class FeatureServerError(SkewlessError):
    """The feature server refused a request or could not be reached.

    Attributes:
        status: the HTTP status (None when the server could not be reached).
        code: the server's error code, e.g. ``body_too_large``.
    """

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TimeRangeError(SkewlessError, ValueError):
    """A time range is empty or malformed (END before START, unparsable time)."""


class MaterializationError(SkewlessError):
    """Materialization could not complete; nothing past the last commit was recorded.

    When a run of several views stops part-way, the error says what it did:

    Attributes:
        committed: one line per view written before the failure (its watermark moved).
        failed: the view that failed (None when the run did not get that far).
        not_run: the views the run did not reach.
    """

    def __init__(
        self,
        message: str,
        *,
        committed: tuple[str, ...] = (),
        failed: str | None = None,
        not_run: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.committed = committed
        self.failed = failed
        self.not_run = not_run

    @property
    def partial(self) -> bool:
        """Whether other views were written, or left out, besides the failed one."""
        return bool(self.committed or self.not_run)


class OnlineStoreError(SkewlessError):
    """The online store cannot be reached, or refused an operation (a server that is down, a
    wrong password, a full memory)."""


class StoreUnavailableError(SkewlessError):
    """A store (the online store, the registry) cannot be reached right now: an outage, not
    a bad request. Retrying later can succeed.

    Attributes:
        component: ``online_store`` or ``registry``.
        written: for a push, what was written before the outage, e.g.
            ``{"online": None, "offline": 3}`` (None: not written).
    """

    def __init__(
        self,
        message: str,
        component: str = "online_store",
        written: dict[str, int | None] | None = None,
    ) -> None:
        super().__init__(message)
        self.component = component
        self.written = written


class OnlineStoreUnavailableError(StoreUnavailableError, OnlineStoreError):
    """The online store cannot be reached (its server is down, its file cannot be opened)."""


class RegistryUnavailableError(StoreUnavailableError, RegistryError):
    """The registry cannot be reached (its database is down, its file cannot be opened)."""

    def __init__(self, message: str, written: dict[str, int | None] | None = None) -> None:
        super().__init__(message, "registry", written)


class ModelRegistryError(SkewlessError):
    """MLflow refused an operation, or a promotion was not allowed; nothing was changed."""


class TrackingServerError(ModelRegistryError):
    """The MLflow tracking server cannot be reached."""


class UnknownModelError(UnknownObjectError):
    """A registered model, version or alias does not exist."""


class GateInputError(SkewlessError, ValueError):
    """A gate cannot judge this model on this dataset (wrong dataset, missing label, ...)."""


class EmbeddingsUnavailableError(SkewlessError, ImportError):
    """The embeddings extra is not installed (``pip install 'skewless[embeddings]'``)."""


class ModelCompressionError(SkewlessError, ValueError):
    """A model version cannot be compressed (a type the converter does not know, a format or
    quantization skewless does not offer, the compress extra not installed)."""


class ModelLineageError(ModelRegistryError):
    """A model cannot be served: it has no lineage, or the definitions it was trained on
    changed in the registry since."""


class MissingEntitiesError(EntityFrameError):
    """Entities without stored features (NOT_FOUND or OUTSIDE_MAX_AGE) under ``--missing error``.

    Attributes:
        keys: the entity keys (one mapping of join key to value each) that were missing.
    """

    def __init__(self, message: str, keys: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.keys = keys or []


class ModelPredictionError(SkewlessError):
    """The model raised while predicting: a fault of the model, not of the request."""


class PredictionLogError(SkewlessError):
    """A prediction log cannot be named, found or read (a bad log name, no log of that name
    under ``data/prediction_logs``)."""


class FeedbackError(EntityFrameError):
    """A feedback item lacks a request id, names a bad row or holds a label that is not a JSON
    scalar; nothing of that call was recorded."""


class DriftInputError(SkewlessError, ValueError):
    """The reference or current data of a drift comparison cannot be compared as given: no
    common columns, a column numeric on one side and text on the other, an empty side, an
    all-null column, an unknown test name or a column named that does not exist."""


class ProfileError(SkewlessError):
    """A profile cannot answer what was asked (a format 1 profile without a quantile sketch,
    parts of different types or bins merged, a profile file that cannot be read)."""


class AlertDeliveryError(SkewlessError):
    """A monitoring alert could not be delivered to its webhook (unreachable, refused, or
    answered with an error status)."""


class MonitorInputError(SkewlessError, ValueError):
    """Labels or labelled predictions cannot be joined or measured as given: a column is
    missing, a key has another type on each side, there are no rows, or an option is invalid."""


class ExperimentInputError(SkewlessError, ValueError):
    """The counts, values or settings given to an A/B experiment's statistics cannot be used
    as given: a negative count, more conversions than users, an empty arm, an alpha or power
    outside (0, 1), an unknown bandit arm or a reward that is not a boolean."""


class PipelineInputError(SkewlessError, ValueError):
    """A pipeline cannot run as asked: it is not registered, a function changed since it was
    applied, a param is unknown, a model or feature service it names does not exist, or the
    run to resume is not a failed run of it. No step ran."""


class PipelineStepError(SkewlessError):
    """A pipeline step refused to go on, e.g. a retraining run whose gate failed."""
