"""A mergeable estimate of a column's number of distinct values (a K-minimum-values sketch).

Each value is hashed to 64 bits; the sketch keeps the ``K`` smallest distinct hashes. With
fewer than ``K`` distinct values it holds them all and the count is exact (up to 64-bit hash
collisions); past that the estimate is ``(K - 1) * 2**64 / h_K`` with ``h_K`` the largest hash
kept, whose relative standard error is ``1 / sqrt(K - 2)`` (1.6% for the default ``K = 4096``).
The merge of two sketches is the sketch of the union of their values, exactly, so a merged
profile's estimate equals the whole data's.

Why not a library's theta or HLL sketch: DataSketches' Python binding takes one value per call
(about 0.3 us each), 150 s for 10M rows x 50 columns; hashing a whole Arrow batch in numpy takes
milliseconds. Deterministic hashes also make every profile of the same data identical.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DEFAULT_K", "DistinctSketch", "hash_numbers", "hash_strings"]

DEFAULT_K = 4096
_TWO_64 = float(2**64)


def hash_numbers(values: np.ndarray) -> np.ndarray:
    """64-bit hashes of float64 values (the splitmix64 finalizer over their bits; -0.0 is 0.0).

    >>> bool(hash_numbers(np.array([0.0]))[0] == hash_numbers(np.array([-0.0]))[0])
    True
    """
    bits = np.ascontiguousarray(values, dtype=np.float64) + 0.0  # -0.0 + 0.0 is 0.0
    z = bits.view(np.uint64).copy()
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def hash_strings(values: list[str]) -> np.ndarray:
    """64-bit hashes of strings (BLAKE2b, 8 bytes), stable across processes."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little")
            for v in values
        ),
        dtype=np.uint64,
        count=len(values),
    )


class DistinctSketch:
    """The ``k`` smallest distinct 64-bit hashes of the values seen.

    >>> s = DistinctSketch()
    >>> s.update_numbers(pa.array([1.0, 2.0, 2.0, 3.0]))
    >>> s.estimate(), s.exact
    (3, True)
    """

    def __init__(self, k: int = DEFAULT_K, hashes: np.ndarray | None = None) -> None:
        self.k = k
        self.hashes = hashes if hashes is not None else np.empty(0, dtype=np.uint64)

    @property
    def exact(self) -> bool:
        """Whether every distinct value's hash is held (the count is then exact)."""
        return self.hashes.size < self.k

    def estimate(self) -> int:
        """The number of distinct values (exact while :attr:`exact`)."""
        if self.exact:
            return int(self.hashes.size)
        return round((self.k - 1) * _TWO_64 / (float(self.hashes[-1]) + 1.0))

    @property
    def relative_error(self) -> float:
        """The estimate's relative standard error (0 while :attr:`exact`)."""
        return 0.0 if self.exact else 1.0 / float(np.sqrt(self.k - 2))

    def _add(self, hashes: np.ndarray) -> None:
        if not self.exact:
            hashes = hashes[hashes < self.hashes[-1]]
        if hashes.size == 0:
            return
        if hashes.size > 4 * self.k:
            cut = np.partition(hashes, 4 * self.k)[4 * self.k]
            smallest = np.unique(hashes[hashes <= cut])
            if smallest.size >= self.k:
                hashes = smallest
        self.hashes = np.union1d(self.hashes, hashes)[: self.k]

    def update_numbers(self, values: pa.Array | np.ndarray) -> None:
        """Add float64 values (no nulls, no NaN)."""
        if self.exact and isinstance(values, pa.Array):
            values = pc.unique(values)  # few distinct values so far: hash each once
        array = values.to_numpy(zero_copy_only=False) if isinstance(values, pa.Array) else values
        self._add(hash_numbers(array))

    def update_strings(self, unique_values: list[str]) -> None:
        """Add strings (each counted once however often it is given)."""
        self._add(hash_strings(unique_values))

    def merged(self, other: DistinctSketch) -> DistinctSketch:
        """The sketch of both sketches' values."""
        k = min(self.k, other.k)
        return DistinctSketch(k, np.union1d(self.hashes, other.hashes)[:k])

    def to_dict(self) -> dict[str, Any]:
        raw = self.hashes.astype("<u8").tobytes()
        return {"k": self.k, "hashes": base64.b64encode(raw).decode()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistinctSketch:
        raw = base64.b64decode(data["hashes"])
        return cls(int(data["k"]), np.frombuffer(raw, dtype="<u8").astype(np.uint64))
