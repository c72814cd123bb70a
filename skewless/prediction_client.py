"""``PredictionClient``: calls a prediction server (``skewless models serve``) from Python.

Example:
    >>> from skewless import PredictionClient
    >>> client = PredictionClient("http://127.0.0.1:6570")  # doctest: +SKIP
    >>> client.predict({"user_id": [1001, 1002]}).predictions  # doctest: +SKIP
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from skewless.client import HttpJsonClient, _columns

__all__ = ["PredictionClient", "PredictionResult"]


@dataclass(frozen=True)
class PredictionResult:
    """A ``/predict`` answer.

    Attributes:
        predictions: one per entity.
        probabilities: one row per entity for a classifier, else None.
        model_name: the model that answered.
        model_version: its version.
        request_id: the id to send feedback with.
        missing: entities answered null (``--missing null``).
    """

    predictions: list[Any]
    probabilities: list[list[float] | None] | None
    model_name: str
    model_version: str
    request_id: str
    missing: list[int] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class PredictionClient(HttpJsonClient):
    """A connection pool to one prediction server.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:6570``.
        timeout: seconds to wait for connecting and for each answer.
        max_connections: connections kept open.
        headers: extra headers sent with every request (e.g. authorization).

    Errors the server answers with are raised as the matching
    :class:`~skewless.errors.SkewlessError` (``MissingEntitiesError``, ``EntityFrameError``,
    ``ModelPredictionError``, ...) with the server's message; others as
    :class:`~skewless.errors.FeatureServerError`.
    """

    server = "the prediction server"
    command = "skewless models serve"

    def predict(
        self,
        entities: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | Any,
        request: Mapping[str, Sequence[Any]] | None = None,
        request_id: str | None = None,
    ) -> PredictionResult:
        """Predictions for ``entities`` (``{"user_id": [...]}``, a list of dicts or a frame).

        A body ``{"entities": {...}}`` (what the server takes) is accepted as well.
        """
        if isinstance(entities, Mapping) and set(entities) <= {"entities", "request"}:
            request = entities.get("request") or request  # type: ignore[assignment]
            entities = entities["entities"]
        body: dict[str, Any] = {"entities": _columns(entities, "entities")}
        if request:
            body["request"] = _columns(request, "request")
        headers = {"x-request-id": request_id} if request_id else None
        answer = self._post("/predict", body, headers)
        model = answer.get("model", {})
        return PredictionResult(
            predictions=list(answer["predictions"]),
            probabilities=answer.get("probabilities"),
            model_name=str(model.get("name", "")),
            model_version=str(model.get("version", "")),
            request_id=str(answer.get("request_id", "")),
            missing=list(answer.get("missing", [])),
            raw=answer,
        )

    def feedback(self, request_id: str, label: Any, row: int | None = None) -> dict[str, Any]:
        """Record the observed outcome of an earlier prediction."""
        item: dict[str, Any] = {"request_id": request_id, "label": label}
        if row is not None:
            item["row"] = row
        result: dict[str, Any] = self._post("/feedback", item)
        return result

    def model(self) -> dict[str, Any]:
        """The served model: name, version, aliases and lineage."""
        result: dict[str, Any] = self._request("GET", "/model", None)
        return result

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/health", None)
        return result

    def ready(self) -> bool:
        """Whether the server is ready (model loaded, stores answering)."""
        try:
            return self._http.get("/ready").status_code == 200
        except httpx.HTTPError:
            return False
