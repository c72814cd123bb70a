"""The web UI over the whole loop: catalog, freshness, lineage and impact, models,
experiments and pipelines (``skewless ui``; ``pip install 'skewless[ui]'``). See docs/ui.md.

Importing this package imports neither Starlette nor Jinja2; :func:`create_app` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skewless.ui.data import UiData, UiSources

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["UiData", "UiSources", "create_app"]


def create_app(sources: UiSources, **options: Any) -> Starlette:
    """The UI's Starlette application over ``sources`` (see :mod:`skewless.ui.app`)."""
    from skewless.ui.app import create_app as build

    return build(sources, **options)
