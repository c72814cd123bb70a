"""Settings of the prediction server."""

from __future__ import annotations

from dataclasses import dataclass, field

from skewless.errors import ConfigError
from skewless.server.settings import ServerSettings
from skewless.serving.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS
from skewless.serving.features import MISSING_POLICIES
from skewless.serving.reference import ModelRef, parse_model_ref

__all__ = ["PredictionSettings"]


@dataclass(frozen=True)
class PredictionSettings:
    """How the prediction server behaves.

    Args:
        model: the model to serve; an alias is followed when it moves.
        missing: ``error`` (422 naming entities without features) or ``null``.
        max_batch: the most requests scored in one batch.
        max_wait_ms: the longest a request is held back to fill a batch.
        cache: ``memory``, ``redis://...`` or None (no prediction cache).
        cache_ttl_s: how long a cached prediction lives.
        log_predictions: log every answer under ``data/prediction_logs/NAME/``.
        log_flush_ms: how often the prediction log is written (what a kill can lose).
        model_poll_seconds: how often the served alias and the registry are checked.
        http: body and entity limits, timeouts (the feature server's settings).
        experiment: the experiment that routes the model's requests between its arms: an
            experiment file (started in the registry when it is not running) or the name of
            a running experiment; None routes nothing.
    """

    model: ModelRef = field(default_factory=lambda: parse_model_ref("model"))
    missing: str = "error"
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    cache: str | None = None
    cache_ttl_s: float = 60.0
    log_predictions: bool = True
    log_flush_ms: int = 1000
    model_poll_seconds: float = 0.5
    http: ServerSettings = field(default_factory=ServerSettings)
    experiment: str | None = None

    def __post_init__(self) -> None:
        if self.missing not in MISSING_POLICIES:
            raise ConfigError(
                f"--missing {self.missing!r} is not a policy: use {' or '.join(MISSING_POLICIES)}"
            )
        if self.max_batch < 1:
            raise ConfigError(f"--max-batch must be at least 1, got {self.max_batch}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"--max-wait-ms must be 0 or more, got {self.max_wait_ms}")
        if self.cache_ttl_s <= 0:
            raise ConfigError(f"--cache-ttl must be positive, got {self.cache_ttl_s}")
        if self.log_flush_ms < 1:
            raise ConfigError(f"--log-flush-ms must be positive, got {self.log_flush_ms}")
        if self.model_poll_seconds <= 0:
            raise ConfigError(f"model_poll_seconds must be positive, got {self.model_poll_seconds}")
