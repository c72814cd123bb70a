"""What every page shares: the app's state, rendering a template, errors, links and formats.

Names a user sends (in the path or the query) are only ever looked up in the registry, the
dataset catalog or MLflow's listing; an unknown one raises :class:`NotFound` (a 404 page),
a malformed parameter :class:`BadInput` (400). Templates autoescape everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from skewless.lineage import Node
from skewless.ui.catalog import object_url
from skewless.ui.data import UiData
from skewless.ui.freshness import NewestRows

__all__ = [
    "BadInput",
    "NotFound",
    "UiState",
    "fmt_age",
    "fmt_num",
    "fmt_time",
    "int_param",
    "model_url",
    "node_url",
    "render",
    "state",
    "text_param",
]

MAX_PARAM_CHARS = 500


class NotFound(Exception):
    """A 404: ``message`` says what was not found and where to look."""


class BadInput(Exception):
    """A 400: ``message`` says which parameter is wrong and what it takes."""


@dataclass
class UiState:
    """What the pages read: the cached data, the templates and the source-row cache."""

    data: UiData
    templates: Environment
    newest: NewestRows


def state(request: Request) -> UiState:
    found: UiState = request.app.state.ui
    return found


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` with ``context`` (and ``request``) as an HTML response."""
    env = state(request).templates
    text = env.get_template(template).render(request=request, **context)
    return HTMLResponse(text, status_code=status_code)


def text_param(request: Request, name: str, default: str = "") -> str:
    """Query parameter ``name`` as text.

    Raises:
        BadInput: it is longer than 500 characters.
    """
    value = request.query_params.get(name, default)
    if len(value) > MAX_PARAM_CHARS:
        raise BadInput(f"parameter {name} is too long: send at most {MAX_PARAM_CHARS} characters")
    return value


def int_param(request: Request, name: str) -> int | None:
    """Query parameter ``name`` as a positive integer (None when absent or empty).

    Raises:
        BadInput: it is not a positive whole number.
    """
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12 or int(value) < 1:
        raise BadInput(f"parameter {name} must be a version number such as 1, not {value[:40]!r}")
    return int(value)


def model_url(name: str, version: int | None = None) -> str:
    """The page of model ``name`` (or of one of its versions)."""
    base = f"/models/{quote(name, safe='')}"
    return base if version is None else f"{base}/{version}"


def node_url(node: Node) -> str | None:
    """The page of a lineage node (None for file sources, which have none)."""
    if node.kind in ("feature_view", "on_demand_feature_view", "feature_service", "dataset"):
        return object_url(node.kind, node.name)
    if node.kind == "push_source":
        return object_url("push_source", node.name)
    if node.kind == "model_version":
        name, _, version = node.name.rpartition("/")
        return model_url(name, int(version)) if version.isdigit() else None
    if node.kind == "alias":
        return model_url(node.name.partition("@")[0])
    if node.kind == "experiment":
        return f"/experiments/{quote(node.name, safe='')}"
    if node.kind == "prediction_log":
        return model_url(node.name)
    return None


def fmt_time(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` UTC, ``-`` for none."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def fmt_age(value: timedelta | None) -> str:
    """A duration the way a person says it: ``0 s``, ``5 min``, ``3 h 20 min``, ``2 d 4 h``."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def fmt_num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, ``-`` for none or non-finite."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}g}" if math.isfinite(number) else "-"
