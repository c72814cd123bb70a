"""Fuzzing the prediction server from its own OpenAPI schema: valid and invalid requests,
zero 5xx and only documented statuses with a healthy store; feedback on a real answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from serving.predict_repo import ServingRepo
from serving.predict_server import PredictionServerProcess

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(serving: ServingRepo) -> Iterator[PredictionServerProcess]:
    with PredictionServerProcess(serving.root, "churn", "--max-body-bytes", "65536") as process:
        yield process


def _fuzz(
    server: PredictionServerProcess,
    schema: BaseSchema,
    mode: schemathesis.GenerationMode,
    checks: list[Any],
    examples: int,
) -> list[int]:
    """The status codes of ``examples`` calls generated from ``schema``, each validated."""
    statuses: list[int] = []

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=server.url, checks=checks)
        statuses.append(response.status_code)

    run()
    return statuses


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_fuzz_from_openapi_schema_gives_no_5xx(
    server: PredictionServerProcess, mode: schemathesis.GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    checks = CHECKS + (
        [negative_data_rejection] if mode == schemathesis.GenerationMode.NEGATIVE else []
    )
    statuses = _fuzz(server, schema, mode, checks, 120)
    assert statuses and max(statuses) < 500
    if mode == schemathesis.GenerationMode.POSITIVE:
        assert 200 in statuses
    else:
        assert any(400 <= s < 500 for s in statuses)
    assert "Traceback" not in server.output()


def test_feedback_on_an_answer_is_stored_with_a_documented_status(
    server: PredictionServerProcess,
) -> None:
    import httpx

    answer = httpx.post(server.url + "/predict", json={"entities": {"user_id": [4]}})
    assert answer.status_code == 200, answer.text
    item = {"request_id": answer.json()["request_id"], "label": 1}
    stored = httpx.post(server.url + "/feedback", json=item)
    documented = httpx.get(server.url + "/openapi.json").json()["paths"]["/feedback"]["post"]
    assert str(stored.status_code) in documented["responses"], stored.text
    assert stored.status_code == 200, stored.text
    assert stored.json()["stored"] == 1
