"""Gate reports bound to the gate run that wrote them, so only real gate output promotes.

A report names the model version it judged (name, number and the version's MLflow run id) and
the dataset it judged on (name and entity fingerprint). ``report_sha256`` is the sha256 of the
rest of the report in canonical JSON (sorted keys, no spaces), and the gate records that same
digest on the model version in MLflow (tag :data:`GATE_TAG`). ``promote(gate_report=...)``
recomputes the digest and compares it with the tag, so a report typed by hand, edited after the
gate, or written by a gate of another version or dataset is refused: writing a matching tag
takes write access to the tracking server, which is what promoting directly takes anyway.
Only the version's latest gate run can promote it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.errors import ModelRegistryError, UnknownObjectError

if TYPE_CHECKING:
    from skewless.store import FeatureStore

__all__ = ["DIGEST_KEY", "GATE_TAG", "check_gate_report", "load_gate_report", "report_digest"]

GATE_TAG = "skewless.gate_report_sha256"
"""The model version tag holding the digest of the version's latest gate report."""
DIGEST_KEY = "report_sha256"
"""The report's field holding its digest."""


def _plain(value: Any) -> Any:
    """``value`` with non-finite floats as text, so the canonical JSON is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_digest(report: dict[str, Any]) -> str:
    """sha256 of ``report`` (without its digest field) as canonical JSON.

    >>> report_digest({"b": 1, "a": [1.5]}) == report_digest({"a": [1.5], "b": 1})
    True
    """
    content = {k: v for k, v in report.items() if k != DIGEST_KEY}
    text = json.dumps(_plain(content), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def load_gate_report(report: str | Path | dict[str, Any], name: str) -> dict[str, Any]:
    """The report as a dict, from a path or a dict.

    Raises:
        ModelRegistryError: no such file, or it is not a JSON object.
    """
    if isinstance(report, dict):
        return report
    path = Path(report)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelRegistryError(
            f"gate report {str(path)!r} does not exist: run `skewless gate {name} ... "
            f"--report {path}` first"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelRegistryError(f"gate report {str(path)!r} is not readable: {exc}") from None
    if not isinstance(data, dict):
        raise ModelRegistryError(
            f"gate report {str(path)!r} is not a gate report (a JSON object): pass the file "
            "`skewless gate --report` wrote"
        )
    return data


def check_gate_report(data: dict[str, Any], name: str, version: Any, store: FeatureStore) -> None:
    """Refuse unless ``data`` is the latest gate report of MLflow version ``version`` of model
    ``name``, unchanged, on a dataset that still holds the rows it was judged on, and passed.

    Raises:
        ModelRegistryError: naming which of those does not hold; nothing is promoted.
    """
    number = int(version.version)
    digest = data.get(DIGEST_KEY)
    if not isinstance(digest, str) or digest != report_digest(data):
        raise ModelRegistryError(
            "the gate report was not written by `skewless gate`, or was edited since (its "
            f"{DIGEST_KEY} does not match its contents): gate model {name!r} version "
            f"{number} and pass that report unchanged"
        )
    model = _section(data, "model")
    if model.get("name") != name or str(model.get("version")) != str(number):
        raise ModelRegistryError(
            f"the gate report is for model {model.get('name')!r} version "
            f"{model.get('version')}, not {name!r} version {number}: gate this version first"
        )
    if model.get("run_id") != version.run_id:
        raise ModelRegistryError(
            f"the gate report is for MLflow run {model.get('run_id')!r}, not run "
            f"{version.run_id!r} of {name!r} version {number}: gate this version first"
        )
    recorded = dict(version.tags or {}).get(GATE_TAG)
    if recorded != digest:
        raise ModelRegistryError(
            f"the gate report is not the latest gate run recorded for {name!r} version "
            f"{number} on this tracking server (tag {GATE_TAG} "
            f"{'is missing' if recorded is None else 'differs'}): gate this version again "
            "and pass that report"
        )
    _check_dataset(data, store)
    if data.get("passed") is not True:
        checks = data.get("checks")
        checks = checks if isinstance(checks, list) else []
        failed = [c.get("name") for c in checks if isinstance(c, dict) and not c.get("passed")]
        raise ModelRegistryError(
            f"model {name!r} version {number} failed its gate ({', '.join(map(str, failed))}): "
            "nothing was promoted"
        )


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _check_dataset(data: dict[str, Any], store: FeatureStore) -> None:
    dataset = _section(data, "dataset")
    ds_name = dataset.get("name")
    try:
        saved = store.get_dataset(str(ds_name))
    except UnknownObjectError:
        raise ModelRegistryError(
            f"the gate report judged dataset {ds_name!r}, which this repository does not "
            "have: gate on one of its saved datasets"
        ) from None
    if saved.entity_fingerprint != dataset.get("fingerprint"):
        raise ModelRegistryError(
            f"dataset {ds_name!r} holds other rows than the gate judged (its fingerprint "
            "changed since): gate this version again on the dataset as it is now"
        )
