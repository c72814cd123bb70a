"""Settings of the feature server."""

from __future__ import annotations

from dataclasses import dataclass

from skewless.errors import ConfigError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_ENTITIES", "ServerSettings"]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_ENTITIES = 10_000
DEFAULT_READ_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ServerSettings:
    """How the feature server behaves.

    Args:
        max_body_bytes: the largest request body accepted; larger ones answer 413.
        max_entities: the most entities one read may ask for; more answer 413.
        read_timeout: seconds a client may take to send a request body (408 after that).
        drain_bytes: how much of a refused (413) body is read and discarded before the
            connection closes, so the client reads the answer instead of a reset.
        registry_poll_seconds: how often the registry version is checked; a changed registry
            is re-read at once, so new definitions are served within about this delay.
        close_store: close the store when the application shuts down (the server owns it).
        offload_reads: run online store reads in a worker thread, so the event loop keeps
            taking requests during a network round trip. Off by default: reads, batched,
            run on the event loop, which measured faster with SQLite and with Redis on the
            same host (the hop to the thread waits for the GIL under load). Worth turning on
            with an online store far away on the network (round trips of milliseconds), and
            it keeps ``/health`` answering while the online store is unreachable.
        freeze_gc: at startup, move every object alive to the garbage collector's permanent
            generation (``gc.freeze``), so collections stay short while serving.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_entities: int = DEFAULT_MAX_ENTITIES
    read_timeout: float = DEFAULT_READ_TIMEOUT_S
    drain_bytes: int = 64 * 1024 * 1024
    registry_poll_seconds: float = 0.2
    close_store: bool = False
    offload_reads: bool = False
    freeze_gc: bool = True

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ConfigError(
                f"max_body_bytes must be positive, got {self.max_body_bytes}: pass e.g. 8388608"
            )
        if self.max_entities < 1:
            raise ConfigError(
                f"max_entities must be positive, got {self.max_entities}: pass e.g. 10000"
            )
        if self.read_timeout <= 0:
            raise ConfigError(
                f"read_timeout must be positive, got {self.read_timeout}: pass e.g. 15"
            )
        if self.registry_poll_seconds <= 0:
            raise ConfigError(
                f"registry_poll_seconds must be positive, got {self.registry_poll_seconds}: "
                "pass e.g. 0.2"
            )
