"""The catalog's search: every definition and saved dataset as one entry, matched on its name,
description, tags, owner and feature names, with facets (kind, owner, tag) over the hits.

Example:
    >>> from skewless.registry import RegistrySnapshot
    >>> index = search_index(RegistrySnapshot(project="demo"), {})
    >>> search(index, "anything").hits
    ()
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skewless.datasets import SavedDataset
from skewless.definitions import FeatureView, PushSource
from skewless.registry import RegistrySnapshot

__all__ = [
    "KIND_LABELS",
    "SearchEntry",
    "SearchResult",
    "object_url",
    "push_sources",
    "search",
    "search_index",
]

KIND_LABELS: dict[str, str] = {
    "entity": "entity",
    "feature_view": "feature view",
    "on_demand_feature_view": "on-demand view",
    "feature_service": "feature service",
    "push_source": "push source",
    "dataset": "dataset",
    "pipeline": "pipeline",
}
_PATHS: dict[str, str] = {
    "entity": "entities",
    "feature_view": "views",
    "on_demand_feature_view": "on-demand",
    "feature_service": "services",
    "push_source": "push-sources",
    "dataset": "datasets",
    "pipeline": "pipelines",
}


def object_url(kind: str, name: str) -> str:
    """The page of object ``name`` of ``kind`` (the name percent-encoded).

    >>> object_url("feature_view", "user stats")
    '/views/user%20stats'
    """
    from urllib.parse import quote

    return f"/{_PATHS[kind]}/{quote(name, safe='')}"


@dataclass(frozen=True)
class SearchEntry:
    """One searchable object."""

    kind: str
    name: str
    description: str
    owner: str
    tags: tuple[tuple[str, str], ...]
    features: tuple[str, ...]
    haystack: tuple[str, ...]

    @property
    def url(self) -> str:
        return object_url(self.kind, self.name)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


@dataclass(frozen=True)
class SearchResult:
    """The hits of a search (after the facet filters) and the facets of all matches."""

    hits: tuple[SearchEntry, ...]
    kinds: tuple[tuple[str, int], ...]
    owners: tuple[tuple[str, int], ...]
    tags: tuple[tuple[str, int], ...]
    matched: int


def push_sources(snapshot: RegistrySnapshot) -> dict[str, tuple[PushSource, list[FeatureView]]]:
    """Push source name -> the source and the views it feeds."""
    found: dict[str, tuple[PushSource, list[FeatureView]]] = {}
    for view in snapshot.feature_views.values():
        push = view.push_source
        if push is not None:
            found.setdefault(push.name, (push, []))[1].append(view)
    return found


def _entry(kind: str, obj: Any, features: Sequence[str] = ()) -> SearchEntry:
    tags = tuple(sorted((str(k), str(v)) for k, v in (getattr(obj, "tags", None) or {}).items()))
    description = str(getattr(obj, "description", "") or "")
    owner = str(getattr(obj, "owner", "") or "")
    texts = [obj.name, description, owner, *features]
    for key, value in tags:
        texts += [key, value, f"{key}={value}"]
    return SearchEntry(
        kind=kind,
        name=obj.name,
        description=description,
        owner=owner,
        tags=tags,
        features=tuple(features),
        haystack=tuple(t.casefold() for t in texts if t),
    )


def search_index(
    snapshot: RegistrySnapshot, datasets: Mapping[str, SavedDataset]
) -> list[SearchEntry]:
    """Every object of the catalog, in kind order then by name."""
    entries = [_entry("entity", e) for _, e in sorted(snapshot.entities.items())]
    entries += [
        _entry("feature_view", v, v.feature_names)
        for _, v in sorted(snapshot.feature_views.items())
    ]
    entries += [
        _entry("on_demand_feature_view", o, o.feature_names)
        for _, o in sorted(snapshot.on_demand_feature_views.items())
    ]
    entries += [
        _entry("feature_service", s, s.feature_refs)
        for _, s in sorted(snapshot.feature_services.items())
    ]
    entries += [
        _entry("push_source", push, [f for v in views for f in v.feature_names])
        for _, (push, views) in sorted(push_sources(snapshot).items())
    ]
    entries += [_entry("dataset", d, d.feature_refs) for _, d in sorted(datasets.items())]
    entries += [_entry("pipeline", p) for _, p in sorted(snapshot.pipelines.items())]
    return entries


def _counts(values: Sequence[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def search(
    index: Sequence[SearchEntry],
    text: str,
    *,
    kind: str | None = None,
    owner: str | None = None,
    tag: str | None = None,
) -> SearchResult:
    """The entries whose texts contain ``text`` (ignoring case; empty matches everything),
    narrowed to ``kind``, ``owner`` and ``tag`` (``key=value``); facets count the matches
    before narrowing."""
    needle = text.strip().casefold()
    matched = [e for e in index if not needle or any(needle in h for h in e.haystack)]
    hits = [
        e
        for e in matched
        if (kind is None or e.kind == kind)
        and (owner is None or e.owner == owner)
        and (tag is None or tag in {f"{k}={v}" for k, v in e.tags})
    ]
    return SearchResult(
        hits=tuple(hits),
        kinds=_counts([e.kind for e in matched]),
        owners=_counts([e.owner for e in matched if e.owner]),
        tags=_counts([f"{k}={v}" for e in matched for k, v in e.tags]),
        matched=len(matched),
    )
