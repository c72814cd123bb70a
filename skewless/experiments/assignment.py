"""Sticky assignment: which arm answers an entity, the same one for the experiment's life.

Each (arm, key) pair gets a uniform number ``u`` from a salted BLAKE2b hash of the
experiment's salt, the arm's name and the key; the key goes to the arm with the smallest
``-ln(u) / weight`` (weighted rendezvous hashing). So:

- an arm's share of keys is its weight over the sum of the weights, for any number of arms;
- the same key gets the same arm while the weights are unchanged (no state is kept);
- when weights change, a key moves from arm B to arm C only if C's weight grew relative to
  B's; when one arm gains and the others shrink in proportion (a canary step), keys move
  only into the arm that gained, and never back while it keeps gaining;
- a new salt (or experiment) reshuffles every key, independently of other experiments.

See docs/experiments.md, "Assignment".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = ["Assigner", "entity_key", "unit_hash"]

_SCALE = float(2**64)


def entity_key(entity: Mapping[str, Any]) -> str:
    """The canonical text of one entity's key: its join keys in name order, values as JSON.

    >>> entity_key({"user_id": 1001}), entity_key({"b": "x", "a": 2})
    ('{"user_id":1001}', '{"a":2,"b":"x"}')
    """
    return orjson.dumps(dict(entity), option=orjson.OPT_SORT_KEYS).decode()


def unit_hash(salt: str, arm: str, key: str) -> float:
    """A number in (0, 1), uniform over keys, from the salted hash of ``arm`` and ``key``."""
    digest = hashlib.blake2b(f"{arm}\x1f{key}".encode(), digest_size=8, key=salt.encode()[:64])
    return (int.from_bytes(digest.digest(), "big") + 0.5) / _SCALE


class Assigner:
    """Assigns keys to arms by weight (see the module docstring).

    Args:
        salt: the experiment's salt.
        weights: arm name -> weight (at least one positive; weights need not sum to 1).

    Example:
        >>> a = Assigner("exp-1", {"control": 0.8, "challenger": 0.2})
        >>> a.assign('{"user_id":1001}') == a.assign('{"user_id":1001}')
        True
    """

    def __init__(self, salt: str, weights: Mapping[str, float]) -> None:
        self.salt = salt
        self.weights = {name: float(w) for name, w in weights.items()}
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError("at least one arm needs a positive weight")
        self._arms = [(name, w) for name, w in self.weights.items() if w > 0]

    def assign(self, key: str) -> str:
        """The arm of the key ``key`` (the text of :func:`entity_key`)."""
        best, best_score = self._arms[0][0], math.inf
        for name, weight in self._arms:
            score = -math.log(unit_hash(self.salt, name, key)) / weight
            if score < best_score:
                best, best_score = name, score
        return best

    def assign_many(self, keys: Sequence[str]) -> list[str]:
        return [self.assign(k) for k in keys]
