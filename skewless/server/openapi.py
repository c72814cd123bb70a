"""The request and response models of the feature server and its OpenAPI document.

The models describe the wire format for clients and for the OpenAPI schema; the server
itself parses bodies with orjson and checks them by hand (see :mod:`skewless.server.requests`),
which keeps validation off the hot path's allocation budget.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

__all__ = [
    "METRICS_PATH",
    "ErrorBody",
    "GetOnlineFeaturesRequest",
    "GetOnlineFeaturesResponse",
    "HealthBody",
    "PushBody",
    "PushRequest",
    "error_responses",
    "json_content",
    "openapi_document",
]

EntityValue = int | float | str | bool | None
FeatureRef = Annotated[str, Field(pattern=r"^[^:]+:[^:]+$")]


class GetOnlineFeaturesRequest(BaseModel):
    """Feast's ``/get-online-features`` request: ``features`` or ``feature_service``."""

    model_config = ConfigDict(extra="allow")

    features: list[FeatureRef] | None = Field(
        default=None,
        min_length=1,
        description="Feature references 'view:feature'. Give this or feature_service.",
        examples=[["user_stats:total_purchases"]],
    )
    feature_service: str | None = Field(
        default=None, description="A feature service name. Give this or features."
    )
    entities: dict[str, list[EntityValue]] = Field(
        description="Join key to one value per entity; every list has the same length.",
        examples=[{"user_id": [1001, 1002]}],
    )
    full_feature_names: bool = Field(
        default=False, description="Name features 'view__feature' instead of 'feature'."
    )


class FeatureResult(BaseModel):
    values: list[Any]
    statuses: list[Literal["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"]]
    event_timestamps: list[str]


class ResponseMetadata(BaseModel):
    feature_names: list[str]


class GetOnlineFeaturesResponse(BaseModel):
    """One result per name of ``metadata.feature_names`` (join keys first), each holding
    one entry per entity. Event timestamps are ISO-8601 UTC; ``1970-01-01T00:00:00Z`` where
    there is no stored row."""

    metadata: ResponseMetadata
    results: list[FeatureResult]


class PushRequest(BaseModel):
    """Feast's ``/push`` request: rows of a push source as ``{column: [values]}``."""

    model_config = ConfigDict(extra="allow")

    push_source_name: str = Field(description="The push source to write through.")
    df: dict[str, list[Any]] = Field(
        description="Column to one value per row; every list has the same length.",
        examples=[{"user_id": [1001], "event_timestamp": ["2024-03-01T12:00:00Z"]}],
    )
    to: Literal["online", "offline", "online_and_offline"] = Field(
        default="online", description="Where the rows are written."
    )


class Written(BaseModel):
    """Rows written to each store; null where the push did not write (or failed before)."""

    online: int | None
    offline: int | None


class PushBody(BaseModel):
    status: Literal["ok"]
    push_source_name: str
    to: str
    rows: int
    written: Written


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: a machine-readable code and a message naming the problem."""

    error: str = Field(description="A short code, e.g. feature_not_found, malformed_json.")
    detail: Any = Field(description="What was wrong and how to fix it.")
    component: str | None = Field(
        default=None, description="On a 503: the store that is unavailable."
    )
    written: Written | None = Field(
        default=None, description="On a failed push: what was written before it failed."
    )


class ComponentHealth(BaseModel):
    status: Literal["up", "down"]
    since: str = Field(description="When it last changed state (ISO-8601 UTC).")
    detail: str | None = Field(default=None, description="Why it is down.")


class HealthBody(BaseModel):
    """The last known state of each store (each is probed first with ``?deep=1``)."""

    status: Literal["ok", "unavailable"]
    project: str
    registry_version: int
    components: dict[str, ComponentHealth]


_ERRORS = {
    "400": "Malformed JSON or a body that is not an object",
    "404": "Unknown feature view, feature, feature service or push source",
    "408": "The body did not arrive within the server's read timeout",
    "413": "The body is larger than the server's limit, or the read asks for too many entities",
    "422": "A well-formed body of the wrong shape, or unusable entity columns or rows",
    "503": "A store is unavailable (an outage): retry after the Retry-After delay",
}


def json_content(ref: str) -> dict[str, Any]:
    """A JSON body of the component schema ``ref``."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def error_responses(descriptions: dict[str, str], *codes: str) -> dict[str, Any]:
    """The ``ErrorBody`` answers of ``codes``, each with its description."""
    return {
        code: {"description": descriptions[code], "content": json_content("ErrorBody")}
        for code in codes
    }


METRICS_PATH: dict[str, Any] = {
    "get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics (text exposition format)",
        "responses": {
            "200": {
                "description": "Metrics",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }
}
"""``GET /metrics``, the same on both servers."""

_json = json_content


def _errors(*codes: str) -> dict[str, Any]:
    return error_responses(_ERRORS, *codes)


def openapi_document(title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the server's routes."""
    _, schemas = models_json_schema(
        [
            (m, "validation")
            for m in (
                GetOnlineFeaturesRequest,
                GetOnlineFeaturesResponse,
                PushRequest,
                PushBody,
                ErrorBody,
                HealthBody,
            )
        ],
        ref_template="#/components/schemas/{model}",
    )
    components = schemas.get("$defs", {})
    post_errors = _errors("400", "404", "408", "413", "422", "503")
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {
            "/get-online-features": {
                "post": {
                    "operationId": "get_online_features",
                    "summary": "The latest feature values of a list of entities",
                    "requestBody": {"required": True, "content": _json("GetOnlineFeaturesRequest")},
                    "responses": {
                        "200": {
                            "description": "Values, statuses and event timestamps",
                            "content": _json("GetOnlineFeaturesResponse"),
                        },
                        **post_errors,
                    },
                }
            },
            "/push": {
                "post": {
                    "operationId": "push",
                    "summary": "Write rows of a push source online and/or offline",
                    "requestBody": {"required": True, "content": _json("PushRequest")},
                    "responses": {
                        "200": {"description": "Rows written", "content": _json("PushBody")},
                        **post_errors,
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "The state of each store, and the registry version being served",
                    "parameters": [
                        {
                            "name": "deep",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["0", "1", "false", "true"]},
                            "description": "1: probe every store instead of reporting the "
                            "state last seen",
                        }
                    ],
                    "responses": {
                        "200": {"description": "Every store is up", "content": _json("HealthBody")},
                        "503": {"description": "A store is down", "content": _json("HealthBody")},
                        **_errors("422"),
                    },
                }
            },
            "/metrics": METRICS_PATH,
        },
        "components": {"schemas": components},
    }
