"""The request and response models of the prediction server and its OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema

from skewless.server.openapi import METRICS_PATH, ErrorBody, error_responses, json_content

__all__ = ["PredictRequest", "PredictResponse", "prediction_openapi_document"]

EntityValue = int | float | str | bool | None


class PredictRequest(BaseModel):
    """Entity keys only: the server reads the features the model was trained on."""

    model_config = ConfigDict(extra="forbid")

    entities: dict[str, list[EntityValue]] = Field(
        min_length=1,
        description="Join key to one value per entity; every list has the same length.",
        examples=[{"user_id": [1001, 1002]}],
    )
    request: dict[str, list[Any]] | None = Field(
        default=None,
        description="Request data for on-demand features: column to one value per entity.",
    )


class ModelId(BaseModel):
    name: str
    version: str


class PredictResponse(BaseModel):
    predictions: list[Any] = Field(description="One per entity, what the model's predict gives.")
    probabilities: list[list[float] | None] | None = Field(
        default=None, description="Classifiers: one row of class probabilities per entity."
    )
    model: ModelId
    request_id: str
    missing: list[int] | None = Field(
        default=None, description="With --missing null: entities answered null (no features)."
    )
    arm: str | None = Field(
        default=None,
        description="While an experiment routes the model: the arm that answered every entity.",
    )
    arms: list[str] | None = Field(
        default=None,
        description="While an experiment routes the model and its arms answered different "
        "entities of the request: the arm of each entity (``model`` is then the first's).",
    )
    versions: list[str] | None = Field(
        default=None, description="With ``arms``: the model version of each entity."
    )


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1)
    label: str | float | int | bool
    row: int | None = Field(default=None, ge=0, description="The entity's index in its request.")


class FeedbackList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: list[FeedbackItem] = Field(min_length=1)


class FeedbackRequest(RootModel[FeedbackItem | FeedbackList]):
    """One outcome, or ``{"feedback": [...]}`` with several."""


class FeedbackBody(BaseModel):
    status: Literal["ok", "accepted"]
    stored: int
    unmatched: int | None = Field(
        default=None,
        description="202: items naming a request this process did not answer (recorded; "
        "the log join matches them once the request's rows are there).",
    )


class ReadyBody(BaseModel):
    status: Literal["ready", "unavailable"]
    model: ModelId | None = None
    components: dict[str, Any]


_json = json_content


_ERRORS = {
    "400": "Malformed JSON or a body that is not an object",
    "404": "Unknown route, or feedback to a server started with --no-log",
    "408": "The body did not arrive within the server's read timeout",
    "413": "The body is larger than the server's limit, or asks for too many entities",
    "422": "A body of the wrong shape, keys of the wrong type, entities without features, or "
    "an x-experiment-group naming no arm that answers",
    "500": "The model raised while predicting (the body carries the request id)",
    "503": "The online store or registry is unavailable, or the model's definitions changed",
}


_GROUP_HEADER = {
    "name": "x-experiment-group",
    "in": "header",
    "required": False,
    "description": "While an experiment routes the model: send the whole request to this arm "
    "(answers log assignment `header`, left out of the analysis); an arm that does not exist "
    "or only shadows answers 422 `unknown_arm`. Ignored once the experiment stopped.",
    "schema": {"type": "string"},
}


def _errors(*codes: str) -> dict[str, Any]:
    return error_responses(_ERRORS, *codes)


def _get(operation: str, summary: str, ref: str | None = None) -> dict[str, Any]:
    content = _json(ref) if ref else {"application/json": {"schema": {"type": "object"}}}
    return {
        "get": {
            "operationId": operation,
            "summary": summary,
            "responses": {"200": {"description": summary, "content": content}},
        }
    }


def prediction_openapi_document(title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the prediction server's routes."""
    _, schemas = models_json_schema(
        [
            (m, "validation")
            for m in (PredictRequest, PredictResponse, FeedbackRequest, FeedbackBody, ReadyBody)
        ]
        + [(ErrorBody, "validation")],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {
            "/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predictions for a list of entities (features read by the server)",
                    "parameters": [_GROUP_HEADER],
                    "requestBody": {"required": True, "content": _json("PredictRequest")},
                    "responses": {
                        "200": {"description": "Predictions", "content": _json("PredictResponse")},
                        **_errors("400", "408", "413", "422", "500", "503"),
                    },
                }
            },
            "/feedback": {
                "post": {
                    "operationId": "feedback",
                    "summary": "Observed outcomes of earlier predictions, by request id",
                    "requestBody": {"required": True, "content": _json("FeedbackRequest")},
                    "responses": {
                        "200": {"description": "Stored", "content": _json("FeedbackBody")},
                        "202": {
                            "description": "Stored; some items name requests this process "
                            "did not answer",
                            "content": _json("FeedbackBody"),
                        },
                        **_errors("400", "404", "408", "413", "422", "503"),
                    },
                }
            },
            "/model": _get("model", "The served model: name, version, aliases and lineage"),
            "/health": _get("health", "Liveness: the process answers"),
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness: the model is loaded and the stores answer",
                    "responses": {
                        "200": {"description": "Ready", "content": _json("ReadyBody")},
                        "503": {"description": "Not ready", "content": _json("ReadyBody")},
                    },
                }
            },
            "/metrics": METRICS_PATH,
        },
        "components": {"schemas": schemas.get("$defs", {})},
    }
