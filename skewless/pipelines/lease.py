"""One run at a time per pipeline: a lease in the registry (a document of kind
``pipeline_lease`` named by the pipeline).

A worker takes the lease before it starts a run and gives it back when the run ends. Taking it
is a compare-and-set on the document's version, so of two workers only one wins; the lease
holds until its ``expires_at`` and the holder's :class:`Heartbeat` moves that forward while the
run goes on, so the lease of a worker that crashed lapses on its own and another worker may take
it then. The lease names the run it guards, so the next holder can record that run as
interrupted.

Example:
    >>> leases = Leases(registry, clock)  # doctest: +SKIP
    >>> taken = leases.acquire("nightly", "web-1:4242", timedelta(minutes=5))  # doctest: +SKIP
    >>> taken.lease is None  # another worker holds it  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from skewless.errors import RegistryConflictError

if TYPE_CHECKING:
    from skewless.registry import Registry

__all__ = ["KIND", "Acquired", "Heartbeat", "Lease", "Leases"]

KIND = "pipeline_lease"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """Who may run a pipeline now, until when, and which run it is running.

    Attributes:
        pipeline: the pipeline.
        owner: the worker holding it (``host:pid:tag``).
        acquired_at: when it was taken; expires_at: when it lapses unless renewed.
        run_id: the run it guards (None before the run is created).
        version: the document's version in the registry.
    """

    pipeline: str
    owner: str
    acquired_at: datetime
    expires_at: datetime
    run_id: str | None = None
    version: int = 0

    def live(self, now: datetime) -> bool:
        """Whether it still holds at ``now``."""
        return self.expires_at > now

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "owner": self.owner,
            "acquired_at": self.acquired_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int) -> Lease:
        return cls(
            pipeline=data["pipeline"],
            owner=data["owner"],
            acquired_at=datetime.fromisoformat(data["acquired_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            run_id=data.get("run_id"),
            version=version,
        )


@dataclass(frozen=True)
class Acquired:
    """The outcome of :meth:`Leases.acquire`.

    Attributes:
        lease: the lease taken (None: another worker holds it).
        holder: the live lease of another worker, when it was not taken.
        lapsed: the expired lease of another worker that this one replaced (its run may
            have been left ``running`` by a worker that stopped).
    """

    lease: Lease | None
    holder: Lease | None = None
    lapsed: Lease | None = None


class Leases:
    """The pipeline leases of one registry.

    Args:
        registry: the project's registry.
        clock: "now" (UTC); the expiry of each lease is on this clock.
    """

    def __init__(self, registry: Registry, clock: Callable[[], datetime]) -> None:
        self.registry = registry
        self.clock = clock

    def find(self, pipeline: str) -> Lease | None:
        """The stored lease of ``pipeline`` (live or not)."""
        found = self.registry.get_document(KIND, pipeline)
        if found is None:
            return None
        return Lease.from_dict(orjson.loads(found.body), found.version)

    def acquire(self, pipeline: str, owner: str, ttl: timedelta) -> Acquired:
        """Take the lease of ``pipeline`` for ``ttl`` unless another owner holds a live one."""
        now = self.clock()
        stored = self.find(pipeline)
        if stored is not None and stored.live(now) and stored.owner != owner:
            return Acquired(None, holder=stored)
        lease = Lease(pipeline, owner, now, now + ttl)
        expected = 0 if stored is None else stored.version
        try:
            version = self.registry.put_document(KIND, pipeline, _dumps(lease), expected=expected)
        except RegistryConflictError:  # another worker took it between the read and the write
            return Acquired(None, holder=self.find(pipeline))
        lapsed = stored if stored is not None and stored.owner != owner else None
        return Acquired(replace(lease, version=version), lapsed=lapsed)

    def renew(self, lease: Lease, ttl: timedelta, run_id: str | None = None) -> Lease:
        """Move the lease's expiry to ``ttl`` from now (and record ``run_id``).

        Raises:
            RegistryConflictError: the lease is no longer this owner's (it lapsed and
                another worker took it).
        """
        renewed = replace(lease, expires_at=self.clock() + ttl, run_id=run_id or lease.run_id)
        version = self.registry.put_document(
            KIND, lease.pipeline, _dumps(renewed), expected=lease.version
        )
        return replace(renewed, version=version)

    def release(self, lease: Lease) -> None:
        """Give the lease back (it expires now); nothing happens when it is no longer ours."""
        ended = replace(lease, expires_at=min(lease.expires_at, self.clock()))
        with contextlib.suppress(RegistryConflictError):
            self.registry.put_document(KIND, lease.pipeline, _dumps(ended), expected=lease.version)


class Heartbeat:
    """Renews a lease from a background thread while a run goes on, a third of its ``ttl``
    apart (in real time), and records the run it guards.

    Args:
        leases: the leases.
        lease: the lease taken.
        ttl: how long each renewal holds.
    """

    def __init__(self, leases: Leases, lease: Lease, ttl: timedelta) -> None:
        self.leases = leases
        self.lease = lease
        self.ttl = ttl
        self.lost: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-{lease.pipeline}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self.lost is None:
                self.leases.release(self.lease)

    def guard(self, run_id: str) -> None:
        """Record that the lease guards run ``run_id``."""
        self._renew(run_id)

    def _renew(self, run_id: str | None = None) -> None:
        with self._lock:
            if self.lost is not None:
                return
            try:
                self.lease = self.leases.renew(self.lease, self.ttl, run_id)
            except RegistryConflictError:
                self.lost = (
                    f"the lease of pipeline {self.lease.pipeline!r} lapsed and another worker "
                    "took it: give the worker a longer --lease"
                )
                _log.warning(self.lost)

    def _beat(self) -> None:
        interval = max(self.ttl.total_seconds() / 3.0, 0.05)
        while not self._stop.wait(interval):
            self._renew()


def _dumps(lease: Lease) -> str:
    return orjson.dumps(lease.to_dict()).decode()
