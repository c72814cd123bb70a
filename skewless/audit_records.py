"""The latest skew audit of each view, kept in the registry for the freshness page.

Every :func:`skewless.audit.audit` run records, per view it audited, one summary in a single
registry document (kind ``audit``, name ``latest``; see :mod:`skewless.registry.documents`):
when it ran, the instant ``T`` it compared at, the keys sampled, the values compared and how
many differed. Views an audit did not touch keep their earlier summary. The write is a
compare-and-set, retried, so two audits running at once both land.

Example:
    >>> from skewless.config import RepoConfig
    >>> from skewless.registry import Registry
    >>> latest_audits(Registry(RepoConfig(project="demo", repo_path="/nonexistent")))
    {}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from skewless.audit_report import AuditReport
from skewless.errors import RegistryConflictError
from skewless.registry import Registry

__all__ = ["AUDIT_KIND", "ViewAuditSummary", "latest_audits", "record_audit"]

AUDIT_KIND = "audit"
_NAME = "latest"
_ATTEMPTS = 10


@dataclass(frozen=True)
class ViewAuditSummary:
    """What the latest audit of one view found.

    Attributes:
        view: the feature view or on-demand feature view.
        ran_at: the clock when the audit ran (UTC).
        status: ``audited``, ``not materialized`` or ``skipped``.
        at: the instant ``T`` both paths were read at (None when not audited).
        sampled: keys sampled.
        compared: values compared (keys times features).
        mismatches: compared values that differ (skew).
    """

    view: str
    ran_at: datetime
    status: str
    at: datetime | None
    sampled: int
    compared: int
    mismatches: int

    @property
    def ok(self) -> bool:
        """True when the view was audited and no value differed."""
        return self.status == "audited" and self.mismatches == 0

    @property
    def verdict(self) -> str:
        """``no skew``, ``N mismatching values``, or the status when it was not audited."""
        if self.status != "audited":
            return self.status
        return "no skew" if self.mismatches == 0 else f"{self.mismatches} mismatching values"

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "ran_at": self.ran_at.isoformat(),
            "status": self.status,
            "at": self.at.isoformat() if self.at else None,
            "sampled": self.sampled,
            "compared": self.compared,
            "mismatches": self.mismatches,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewAuditSummary:
        return cls(
            view=str(data["view"]),
            ran_at=datetime.fromisoformat(data["ran_at"]),
            status=str(data["status"]),
            at=datetime.fromisoformat(data["at"]) if data.get("at") else None,
            sampled=int(data.get("sampled", 0)),
            compared=int(data.get("compared", 0)),
            mismatches=int(data.get("mismatches", 0)),
        )


def summaries(report: AuditReport) -> dict[str, ViewAuditSummary]:
    """One summary per view of ``report``."""
    compared: dict[str, list[int]] = {}
    for feature in report.features:
        view = feature.ref.partition(":")[0]
        counts = compared.setdefault(view, [0, 0])
        counts[0] += feature.compared
        counts[1] += feature.mismatches
    out = {}
    for v in report.views:
        done, bad = compared.get(v.name, [0, 0])
        out[v.name] = ViewAuditSummary(v.name, report.now, v.status, v.at, v.sampled, done, bad)
    return out


def record_audit(registry: Registry, report: AuditReport) -> None:
    """Keep ``report``'s per-view summaries as the latest audit of those views.

    Raises:
        RegistryConflictError: other writers changed the document on every attempt.
    """
    found = summaries(report)
    if not found:
        return
    for _ in range(_ATTEMPTS):
        document = registry.get_document(AUDIT_KIND, _NAME)
        body: dict[str, Any] = orjson.loads(document.body) if document is not None else {}
        views = dict(body.get("views") or {})
        views.update({name: s.to_dict() for name, s in found.items()})
        expected = document.version if document is not None else 0
        try:
            registry.put_document(
                AUDIT_KIND, _NAME, orjson.dumps({"views": views}).decode(), expected
            )
            return
        except RegistryConflictError:
            continue
    raise RegistryConflictError(
        f"could not record the audit in registry {registry.location}: other writers kept "
        "changing it; run the audit again"
    )


def latest_audits(registry: Registry) -> dict[str, ViewAuditSummary]:
    """View name -> the latest audit of it (views never audited are absent)."""
    document = registry.get_document(AUDIT_KIND, _NAME)
    if document is None:
        return {}
    views = (orjson.loads(document.body) or {}).get("views") or {}
    return {str(name): ViewAuditSummary.from_dict(data) for name, data in views.items()}
