"""Turning ``["view:feature", ...]`` or a FeatureService into per-view requests."""

from __future__ import annotations

from collections.abc import Sequence

from skewless._contracts import ViewRequest
from skewless.definitions import FeatureService
from skewless.errors import FeatureNotFoundError
from skewless.registry.snapshot import RegistrySnapshot

__all__ = ["FeatureRequest", "parse_refs", "resolve_requests"]

FeatureRequest = Sequence[str] | FeatureService | str


def parse_refs(features: FeatureRequest, snapshot: RegistrySnapshot) -> list[tuple[str, str]]:
    """``(view, feature)`` pairs in request order; a service name or object expands."""
    if isinstance(features, FeatureService):
        return [(p.view_name, f) for p in features.projections for f in p.features]
    if isinstance(features, str):
        if ":" not in features and features in snapshot.feature_services:
            return parse_refs(snapshot.feature_services[features], snapshot)
        features = [features]
    pairs: list[tuple[str, str]] = []
    for ref in features:
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise FeatureNotFoundError(
                f"feature reference {ref!r} is malformed: write 'view:feature', "
                "e.g. 'user_stats:total_purchases'"
            )
        view, feature = ref.split(":")
        pairs.append((view, feature))
    if not pairs:
        raise FeatureNotFoundError("no features requested: pass ['view:feature', ...]")
    return pairs


def resolve_requests(
    features: FeatureRequest, snapshot: RegistrySnapshot, full_feature_names: bool
) -> list[ViewRequest]:
    """Group refs by view (views in order of first appearance) and name the output columns.

    Raises ``FeatureNotFoundError`` for unknown views or features (listing what exists) and
    for a name clash without ``full_feature_names``.
    """
    grouped: dict[str, list[str]] = {}
    for view_name, feature in parse_refs(features, snapshot):
        if view_name not in snapshot.feature_views:
            every = [*snapshot.feature_views, *snapshot.on_demand_feature_views]
            known = ", ".join(sorted(every)) or "none; run `skewless apply`"
            raise FeatureNotFoundError(
                f"unknown feature view {view_name!r} in '{view_name}:{feature}' (views: {known})"
            )
        view = snapshot.feature_views[view_name]
        if feature not in view.feature_names:
            raise FeatureNotFoundError(
                f"feature view {view_name!r} has no feature {feature!r} "
                f"(features: {', '.join(view.feature_names)})"
            )
        wanted = grouped.setdefault(view_name, [])
        if feature not in wanted:
            wanted.append(feature)
    requests = []
    seen: dict[str, str] = {}
    for view_name, feats in grouped.items():
        names = tuple(f"{view_name}__{f}" if full_feature_names else f for f in feats)
        for name, feat in zip(names, feats, strict=True):
            if name in seen:
                raise FeatureNotFoundError(
                    f"feature name {name!r} comes from both {seen[name]!r} and "
                    f"'{view_name}:{feat}': pass full_feature_names=True to name columns "
                    "view__feature"
                )
            seen[name] = f"{view_name}:{feat}"
        requests.append(ViewRequest(snapshot.feature_views[view_name], tuple(feats), names))
    return requests
