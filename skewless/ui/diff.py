"""The difference between two stored versions of a definition, field by field.

A spec is flattened to ``path -> value`` (``schema[2].dtype``, ``source.path``); the diff
lists every path whose value was added, removed or changed, in path order.

Example:
    >>> [(c.path, c.change) for c in spec_diff({"ttl": 1, "a": [1]}, {"ttl": 2, "a": [1, 2]})]
    [('a[1]', 'added'), ('ttl', 'changed')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FieldChange", "flatten", "spec_diff"]


@dataclass(frozen=True)
class FieldChange:
    """One path of the spec that differs: its old and new value as JSON text."""

    path: str
    change: Literal["added", "removed", "changed"]
    old: str | None
    new: str | None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``path -> leaf value`` of a JSON-like value (empty containers are leaves).

    >>> flatten({"a": {"b": 1}, "c": []})
    {'a.b': 1, 'c': []}
    """
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key in value:
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def spec_diff(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """What changed from spec ``old`` to spec ``new`` (see the module docstring)."""
    a, b = flatten(old), flatten(new)
    changes = []
    for path in sorted(set(a) | set(b)):
        if path not in a:
            changes.append(FieldChange(path, "added", None, _text(b[path])))
        elif path not in b:
            changes.append(FieldChange(path, "removed", _text(a[path]), None))
        elif a[path] != b[path]:
            changes.append(FieldChange(path, "changed", _text(a[path]), _text(b[path])))
    return changes
