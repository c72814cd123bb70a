"""Reading ``/predict`` and ``/feedback`` bodies, and the answers their errors get."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from skewless.errors import (
    MissingEntitiesError,
    ModelLineageError,
    ModelPredictionError,
    SkewlessError,
)
from skewless.server.requests import (
    RequestProblem,
    _columns,
    _json_type,
    _load_object,
    _shape,
    problem_of,
)

if TYPE_CHECKING:
    from skewless.serving.routing import Router

__all__ = [
    "EXPERIMENT_HEADER",
    "experiment_group",
    "parse_feedback",
    "parse_predict",
    "prediction_problem",
]

EXPERIMENT_HEADER = b"x-experiment-group"

_SCALARS = (str, int, float, bool, type(None))


def parse_predict(body: bytes) -> tuple[dict[str, list[Any]], dict[str, list[Any]] | None]:
    """``(entities, request)`` of a ``/predict`` body.

    >>> parse_predict(b'{"entities": {"user_id": [1, 2]}}')
    ({'user_id': [1, 2]}, None)
    """
    data = _load_object(body)
    unknown = sorted(set(data) - {"entities", "request"})
    if unknown:
        raise _shape(
            f"unknown field(s) {', '.join(map(repr, unknown))} in the body: send "
            '{"entities": {"user_id": [...]}} and, for on-demand features, "request": {...}; '
            "feature values are read by the server, never sent"
        )
    if "entities" not in data:
        raise _shape('the body needs `entities`, e.g. {"entities": {"user_id": [1001, 1002]}}')
    entities = _columns(data["entities"], "entities", scalars_only=True)
    if not entities:
        raise _shape('`entities` is empty: send e.g. {"user_id": [1001]}')
    rows = len(next(iter(entities.values())))
    if rows == 0:
        raise _shape("`entities` holds no entity: send at least one key value")
    request = data.get("request")
    if request is None:
        return entities, None
    columns = _columns(request, "request", scalars_only=False)
    for name, values in columns.items():
        if len(values) != rows:
            raise _shape(
                f"`request.{name}` has {len(values)} values for {rows} entities: send one "
                "value per entity"
            )
    return entities, columns or None


def parse_feedback(body: bytes) -> list[dict[str, Any]]:
    """The feedback items of a ``/feedback`` body: one object ``{"request_id": ..., "label":
    ..., "row": N}`` (``row``, the entity's index in its request, is optional), or
    ``{"feedback": [...]}`` with several."""
    data = _load_object(body)
    allowed = {"feedback"} if "feedback" in data else {"request_id", "label", "row"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _shape(
            f"unknown field(s) {', '.join(map(repr, unknown))} in the body: send one "
            '{"request_id": ..., "label": ..., "row": N} or {"feedback": [...]} of them'
        )
    items = data.get("feedback", [data])
    if not isinstance(items, list) or not items:
        raise _shape("`feedback` must be a non-empty list of {request_id, label} objects")
    out = []
    for i, item in enumerate(items):
        where = f"feedback[{i}]" if "feedback" in data else "the body"
        if not isinstance(item, dict):
            raise _shape(f"{where} must be an object, got a JSON {_json_type(item)}")
        extra = sorted(set(item) - {"request_id", "label", "row"})
        if extra:
            raise _shape(f"{where} has unknown field(s) {', '.join(map(repr, extra))}")
        request_id = item.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise _shape(f"{where} needs `request_id`, the id a /predict answer carried")
        if "label" not in item:
            raise _shape(f"{where} needs `label`, the observed outcome")
        label = item["label"]
        if not isinstance(label, _SCALARS) or label is None:
            raise _shape(
                f"{where}: `label` must be a string, number or boolean, got a JSON "
                f"{_json_type(label)}"
            )
        row = item.get("row")
        if row is not None and (not isinstance(row, int) or isinstance(row, bool) or row < 0):
            raise _shape(f"{where}: `row` must be a non-negative integer, got {row!r}")
        out.append({"request_id": request_id, "label": label, "row": row})
    return out


def experiment_group(headers: Iterable[tuple[bytes, bytes]], router: Router) -> str | None:
    """The arm the ``x-experiment-group`` header sends the request to, while the experiment
    runs (the header is ignored once it stopped).

    Raises:
        RequestProblem: 422 ``unknown_arm``, the header names no arm that answers.
    """
    for name, value in headers:
        if name != EXPERIMENT_HEADER:
            continue
        if not router.running:
            return None
        arm = value.decode("latin-1").strip()
        live = router.live_arms
        if arm in live:
            return arm
        what = "a shadow arm, which never answers" if arm in router.shadows else "no arm"
        raise RequestProblem(
            422,
            "unknown_arm",
            f"x-experiment-group {arm!r} is {what} of experiment {router.name!r}: send one "
            f"of {', '.join(live)}, or leave the header out",
            extra={"arms": live},
        )
    return None


def prediction_problem(exc: SkewlessError, request_id: str | None = None) -> RequestProblem:
    """The HTTP answer to an error answering ``/predict``.

    >>> prediction_problem(MissingEntitiesError("2 missing", [{"user_id": 7}])).status
    422
    """
    extra: dict[str, Any] = {"request_id": request_id} if request_id else {}
    if isinstance(exc, MissingEntitiesError):
        extra["missing"] = exc.keys
        return RequestProblem(422, "missing_entities", str(exc), type(exc).__name__, extra)
    if isinstance(exc, ModelPredictionError):
        return RequestProblem(500, "model_error", str(exc), type(exc).__name__, extra)
    if isinstance(exc, ModelLineageError):
        return RequestProblem(503, "model_lineage_mismatch", str(exc), type(exc).__name__, extra)
    problem = problem_of(exc)
    problem.extra.update(extra)
    return problem
