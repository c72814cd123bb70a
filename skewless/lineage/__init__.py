"""Lineage and impact over the whole loop: which sources feed which views, services, datasets,
model versions, aliases, experiments and prediction logs, and what a change to a feature
would break. See docs/ui.md, "Lineage and impact"."""

from skewless.lineage.collect import lineage_inputs, model_versions, prediction_logs
from skewless.lineage.dependents import Impact, impact
from skewless.lineage.graph import (
    KIND_COLUMNS,
    Edge,
    LineageGraph,
    LineageInputs,
    Node,
    build_graph,
    node_id,
)

__all__ = [
    "KIND_COLUMNS",
    "Edge",
    "Impact",
    "LineageGraph",
    "LineageInputs",
    "Node",
    "build_graph",
    "impact",
    "lineage_inputs",
    "model_versions",
    "node_id",
    "prediction_logs",
]
