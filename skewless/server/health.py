"""What the feature server knows about the stores it depends on, for ``/health``.

Each component (the online store, the registry) has a last known state, set by the requests
and the registry poll that use it: a :class:`~skewless.errors.StoreUnavailableError` marks it
down, the next success marks it up again. Each change is logged once (one line per
transition, not one per failed request). ``/health?deep=1`` probes every component instead of
reporting what was last seen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["COMPONENTS", "ComponentState", "Health"]

logger = logging.getLogger("skewless.server")

COMPONENTS = ("online_store", "registry")
PROBE_TIMEOUT_S = 3.0
"""How long a deep probe of one component may take before it counts as down."""


@dataclass
class ComponentState:
    """One component's last known state: up or down, since when, and why (when down)."""

    up: bool = True
    since: float = 0.0
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "up" if self.up else "down",
            "since": datetime.fromtimestamp(self.since, UTC).isoformat().replace("+00:00", "Z"),
        }
        if self.detail is not None:
            out["detail"] = self.detail
        return out


class Health:
    """The state of every component, with one log line per change.

    Example:
        >>> health = Health()
        >>> health.down("registry", "cannot reach it")
        >>> health.is_down("registry"), health.all_up()
        (True, False)
        >>> health.up("registry")
        >>> health.all_up()
        True
    """

    def __init__(self) -> None:
        now = time.time()
        self.states = {name: ComponentState(since=now) for name in COMPONENTS}

    def up(self, component: str) -> None:
        state = self.states[component]
        if state.up:
            return
        down_for = time.time() - state.since
        state.up, state.since, state.detail = True, time.time(), None
        logger.warning("%s is reachable again (it was down for %.1f s)", component, down_for)

    def down(self, component: str, detail: str) -> None:
        state = self.states[component]
        if not state.up:
            state.detail = detail
            return
        state.up, state.since, state.detail = False, time.time(), detail
        logger.error("%s is unavailable: %s", component, detail)

    def is_down(self, component: str) -> bool:
        return not self.states[component].up

    def all_up(self) -> bool:
        return all(state.up for state in self.states.values())

    def as_json(self) -> dict[str, Any]:
        return {name: state.as_json() for name, state in self.states.items()}

    async def probe(self, component: str, check: Callable[[], object]) -> None:
        """Run ``check`` in a worker thread (at most :data:`PROBE_TIMEOUT_S`) and record
        whether it succeeded."""
        try:
            await asyncio.wait_for(asyncio.to_thread(check), PROBE_TIMEOUT_S)
        except TimeoutError:
            self.down(component, f"did not answer a probe within {PROBE_TIMEOUT_S:.0f} s")
        except Exception as exc:
            self.down(component, str(exc) or type(exc).__name__)
        else:
            self.up(component)
