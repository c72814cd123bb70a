"""Holds: what keeps a model version from the retention rule besides an alias.

A hold is a version tag ``skewless.hold.<reason>.<holder>`` whose value is the time (ISO-8601
UTC) until which it holds, or ``forever``. A prediction server holds the version it serves
(reason ``served``) and renews the hold while it runs, so a crashed server's hold lapses on
its own; experiments, pipelines and compressed copies hold their arms, challengers and
originals the same way. The retention rule (``promote``'s keep-N) never deletes a version
with an alias, a hold that has not lapsed, or the rollback target (the version that most
recently left production).

Example:
    >>> hold_tag("served", "web-1:4242")
    'skewless.hold.served.web-1:4242'
    >>> from datetime import datetime, UTC
    >>> is_holding("forever", datetime(2030, 1, 1, tzinfo=UTC))
    True
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skewless.models.tracking import Tracking

__all__ = [
    "FOREVER",
    "HOLD_PREFIX",
    "HOLD_REASONS",
    "hold_tag",
    "holds_of",
    "is_holding",
    "process_holder",
    "put_hold",
    "release_hold",
]

HOLD_PREFIX = "skewless.hold."
FOREVER = "forever"
HOLD_REASONS = ("served", "experiment", "challenger", "compressed", "rollback")


def hold_tag(reason: str, holder: str) -> str:
    """The tag name of the hold of ``holder`` for ``reason``."""
    return f"{HOLD_PREFIX}{reason}.{holder}"


def process_holder() -> str:
    """This process, as a holder name (``host:pid``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_holding(value: str, now: datetime) -> bool:
    """Whether a hold tag's value still holds at ``now``."""
    if value == FOREVER:
        return True
    try:
        until = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return True  # an unreadable hold is kept rather than trusted to have lapsed
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return until > now


def holds_of(tags: Mapping[str, Any], now: datetime) -> list[str]:
    """The hold tags of a version that still hold at ``now``."""
    return [k for k, v in tags.items() if k.startswith(HOLD_PREFIX) and is_holding(str(v), now)]


def put_hold(
    tracking: Tracking, name: str, version: int, reason: str, holder: str, ttl: timedelta | None
) -> None:
    """Hold ``version`` of ``name`` for ``ttl`` (None: until released)."""
    value = FOREVER if ttl is None else (datetime.now(UTC) + ttl).isoformat()
    tracking.client().set_model_version_tag(name, str(version), hold_tag(reason, holder), value)


def release_hold(tracking: Tracking, name: str, version: int, reason: str, holder: str) -> None:
    """Drop a hold (nothing happens when it is not there)."""
    with contextlib.suppress(Exception):  # the version or the tag is gone: nothing is held
        tracking.client().delete_model_version_tag(name, str(version), hold_tag(reason, holder))
