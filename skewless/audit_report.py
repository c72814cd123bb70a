"""What a skew audit finds: how online and offline values are compared, and the report.

The audit itself (:func:`skewless.audit.audit`) samples keys and fills an :class:`AuditReport`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from skewless._time import to_utc
from skewless._types import Array, DType, Float32, Float64

__all__ = [
    "MAX_EXAMPLES",
    "AuditReport",
    "ComparisonRule",
    "FeatureAudit",
    "ViewAudit",
    "ViewLag",
    "comparison_rule",
    "values_equal",
]

MAX_EXAMPLES = 5
"""Mismatching keys kept per feature as examples."""


# -- equality -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparisonRule:
    """How two values of one feature are compared: ``|a - b| <= rel * max(|a|, |b|) + abs``."""

    rel: float = 0.0
    abs: float = 0.0
    float32: bool = False


_EXACT = ComparisonRule()
_FLOAT = ComparisonRule(rel=1e-9, abs=1e-12)
_STD = ComparisonRule(rel=1e-7, abs=1e-12)
_F32 = ComparisonRule(float32=True)


def comparison_rule(dtype: DType, function: str | None = None) -> ComparisonRule:
    """How values of a feature of type ``dtype`` (made by ``function``, for windows) compare."""
    base = dtype.base_type if isinstance(dtype, Array) else dtype
    if base == Float32:
        return _F32
    if base != Float64:
        return _EXACT
    if function == "std":
        return _STD
    if function in (None, "sum", "mean"):
        return _FLOAT
    return _EXACT  # min, max, last of floats: the same value, exactly


def values_equal(a: Any, b: Any, rule: ComparisonRule = _EXACT) -> bool:
    """Whether an online and an offline value agree (None equals None, NaN equals NaN).

    >>> values_equal(None, None), values_equal(1.0, 1.0 + 1e-12, _FLOAT), values_equal(1, 2)
    (True, True, False)
    >>> values_equal([1.0, None], [1.0, None], _FLOAT)
    True
    """
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        if not (isinstance(a, list | tuple) and isinstance(b, list | tuple)) or len(a) != len(b):
            return False
        return all(values_equal(x, y, rule) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, float) or isinstance(b, float):
        x, y = float(a), float(b)
        if rule.float32:
            x, y = _as_float32(x), _as_float32(y)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        if x == y:
            return True
        if math.isinf(x) or math.isinf(y):
            return False
        return abs(x - y) <= rule.rel * max(abs(x), abs(y)) + rule.abs
    if isinstance(a, datetime) and isinstance(b, datetime):
        return to_utc(a) == to_utc(b)
    return bool(a == b)


def _as_float32(value: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


# -- the report -----------------------------------------------------------------------------
@dataclass
class FeatureAudit:
    """What the audit found for one feature (``view:feature``).

    Attributes:
        ref: the feature's reference.
        compared: sampled keys whose values were compared.
        mismatches: keys whose online value differs from the offline one.
        lagging: differences explained by late source rows not online yet (not skew).
        examples: up to five ``(key, online value, offline value)`` of mismatching keys.
    """

    ref: str
    compared: int = 0
    mismatches: int = 0
    lagging: int = 0
    examples: list[tuple[dict[str, Any], Any, Any]] = field(default_factory=list)

    @property
    def mismatch_rate(self) -> float:
        """``mismatches / compared`` (0 when nothing was compared)."""
        return self.mismatches / self.compared if self.compared else 0.0


@dataclass
class ViewAudit:
    """How one view was audited.

    Attributes:
        name: the feature view or on-demand feature view.
        kind: ``feature_view`` or ``on_demand_feature_view``.
        status: ``audited``, ``not materialized`` or ``skipped``.
        reason: why the view was skipped or not materialized.
        at: the instant ``T`` both paths were read at.
        sampled: the keys sampled.
        ahead: sampled keys whose online row is newer than ``T`` (compared at their own time
            for a feature view; left out for an on-demand view).
    """

    name: str
    kind: str
    status: str
    reason: str = ""
    at: datetime | None = None
    sampled: int = 0
    ahead: int = 0


@dataclass
class ViewLag:
    """Rows of a view's source that are not online yet (never counted as skew).

    Attributes:
        name: the feature view.
        watermark: how far it has been materialized (None: never).
        now: the store's clock at the audit.
        at: the view's ``T``: the earlier of its watermark and the audit's limit.
        pending_keys: keys with source rows newer than the watermark, up to ``now``.
        late_keys: keys whose latest row at the watermark arrived after the last incremental
            run (views with a created-timestamp column).
    """

    name: str
    watermark: datetime | None
    now: datetime
    at: datetime | None = None
    pending_keys: int = 0
    late_keys: int = 0

    @property
    def behind(self) -> timedelta | None:
        """How far the watermark is behind the clock (None: never materialized)."""
        if self.watermark is None:
            return None
        return max(self.now - self.watermark, timedelta(0))


@dataclass
class AuditReport:
    """The outcome of :func:`audit`: per-feature skew, per-view status and lag."""

    now: datetime
    sample: int
    seed: int
    views: list[ViewAudit] = field(default_factory=list)
    features: list[FeatureAudit] = field(default_factory=list)
    lag: list[ViewLag] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no compared value differs (lag and unaudited views are not skew)."""
        return all(f.mismatches == 0 for f in self.features)

    @property
    def mismatches(self) -> int:
        return sum(f.mismatches for f in self.features)

    def render(self) -> str:
        """A plain-text summary: views, features with their mismatch rate, lag."""
        lines = [f"skew audit at {self.now.isoformat()} (sample {self.sample}, seed {self.seed})"]
        for v in self.views:
            if v.status == "audited" and v.at is not None:
                extra = f", {v.ahead} newer than T online" if v.ahead else ""
                lines.append(f"  {v.name}: {v.sampled} keys at T={v.at.isoformat()}{extra}")
            else:
                lines.append(f"  {v.name}: {v.status}" + (f" ({v.reason})" if v.reason else ""))
        for f in self.features:
            line = f"  {f.ref}: {f.mismatches}/{f.compared} mismatches ({f.mismatch_rate:.2%})"
            if f.lagging:
                line += f", {f.lagging} explained by lag"
            lines.append(line)
            for key, online, offline in f.examples:
                lines.append(f"    {_fmt_key(key)}: online={online!r} offline={offline!r}")
        for lag in self.lag:
            mark = lag.watermark.isoformat() if lag.watermark else "never materialized"
            lines.append(
                f"  lag {lag.name}: watermark {mark}, {lag.pending_keys} keys with newer rows, "
                f"{lag.late_keys} keys with late rows"
            )
        lines.append("no skew" if self.ok else f"SKEW: {self.mismatches} mismatching values")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able values (times in ISO-8601, bytes in hex)."""
        return {
            "ok": self.ok,
            "now": self.now.isoformat(),
            "sample": self.sample,
            "seed": self.seed,
            "views": [
                {
                    "name": v.name,
                    "kind": v.kind,
                    "status": v.status,
                    "reason": v.reason,
                    "at": v.at.isoformat() if v.at else None,
                    "sampled": v.sampled,
                    "ahead": v.ahead,
                }
                for v in self.views
            ],
            "features": [
                {
                    "feature": f.ref,
                    "compared": f.compared,
                    "mismatches": f.mismatches,
                    "mismatch_rate": f.mismatch_rate,
                    "lagging": f.lagging,
                    "examples": [
                        {"key": _jsonable(k), "online": _jsonable(a), "offline": _jsonable(b)}
                        for k, a, b in f.examples
                    ],
                }
                for f in self.features
            ],
            "lag": [
                {
                    "view": lag.name,
                    "watermark": lag.watermark.isoformat() if lag.watermark else None,
                    "at": lag.at.isoformat() if lag.at else None,
                    "pending_keys": lag.pending_keys,
                    "late_keys": lag.late_keys,
                }
                for lag in self.lag
            ],
        }


def _fmt_key(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in key.items())


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
