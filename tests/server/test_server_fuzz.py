"""Fuzzing the server from its own OpenAPI schema: valid and invalid requests, zero 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from feature_server import ServerProcess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_fuzz_from_openapi_schema_gives_no_5xx(
    server: ServerProcess, mode: schemathesis.GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    checks = CHECKS + (
        [negative_data_rejection] if mode == schemathesis.GenerationMode.NEGATIVE else []
    )
    statuses: list[int] = []

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=server.url, checks=checks)
        statuses.append(response.status_code)

    run()
    assert statuses and max(statuses) < 500
    if mode == schemathesis.GenerationMode.NEGATIVE:
        assert any(400 <= s < 500 for s in statuses)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["2024-03-01T12:00:00Z", "2024-03-01", "now"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
COLUMNS = st.sampled_from(["user_id", "event_timestamp", "clicks", "created", "other"])


def test_fuzz_pushes_to_a_real_push_source_give_no_5xx(server: ServerProcess) -> None:
    """schemathesis rarely names a real push source; this aims random rows at one."""
    import httpx

    statuses: list[int] = []

    @given(
        df=st.integers(0, 3).flatmap(
            lambda n: st.dictionaries(COLUMNS, st.lists(JSON_VALUES, min_size=n, max_size=n))
        ),
        to=st.sampled_from(["online", "offline", "online_and_offline"]),
    )
    @settings(max_examples=80, deadline=None, database=None)
    def run(df: dict[str, list[object]], to: str) -> None:
        body = {"push_source_name": "events_push", "df": df, "to": to}
        r = httpx.post(server.url + "/push", json=body, timeout=10)
        assert r.status_code < 500, r.text
        assert r.status_code in (200, 422), r.text
        statuses.append(r.status_code)

    run()
    assert 422 in statuses
