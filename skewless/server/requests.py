"""Reading and checking request bodies, and the errors a request can answer with.

Bodies are parsed with orjson and checked by hand against the shapes declared in
:mod:`skewless.server.openapi`; every problem raises :class:`RequestProblem` naming it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import ClientDisconnect

from skewless.errors import (
    ConfigError,
    EntityFrameError,
    FeatureNotFoundError,
    OnlineStoreError,
    RegistryError,
    SkewlessError,
    StoreUnavailableError,
    UnknownObjectError,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Message, Receive

    from skewless.feature_refs import FeatureRequest
    from skewless.server.settings import ServerSettings
    from skewless.store import FeatureStore

__all__ = [
    "PUSH_TARGETS",
    "RequestProblem",
    "check_entities",
    "parse_get_online_features",
    "parse_push",
    "problem_of",
    "read_body",
]

PUSH_TARGETS = ("online", "offline", "online_and_offline")
RETRY_AFTER_S = 1
"""The ``Retry-After`` of an outage answer (503), in seconds."""
_SCALARS = (str, int, float, bool, type(None))


class RequestProblem(SkewlessError):
    """A request the server refuses: HTTP ``status``, a short ``code`` and the message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        kind: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.kind = kind
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "detail": str(self)}
        if self.kind is not None:
            out["type"] = self.kind
        out.update(self.extra)
        return out

    @property
    def headers(self) -> dict[str, str] | None:
        """``Retry-After`` on an outage (503): clients may retry, later. ``Connection:
        close`` after a body refused or cut off (413, 408): what is left of it is not read."""
        if self.status == 503:
            return {"Retry-After": str(RETRY_AFTER_S)}
        if self.status in (408, 413):
            return {"Connection": "close"}
        return None


def problem_of(exc: SkewlessError, rows: bool = False) -> RequestProblem:
    """The HTTP answer to an error the store raised while serving a request (``rows``: the
    request carried rows to write, so bad columns are ``invalid_rows``).

    >>> problem_of(FeatureNotFoundError("no feature 'x'")).status
    404
    >>> from skewless.errors import OnlineStoreUnavailableError
    >>> outage = problem_of(OnlineStoreUnavailableError("redis is down"))
    >>> outage.status, outage.code, outage.headers
    (503, 'online_store_unavailable', {'Retry-After': '1'})
    """
    if isinstance(exc, RequestProblem):
        return exc
    kind = type(exc).__name__
    message = str(exc)
    if isinstance(exc, StoreUnavailableError):
        extra: dict[str, Any] = {"component": exc.component}
        if rows:
            extra["written"] = exc.written or {"online": None, "offline": None}
        return RequestProblem(503, f"{exc.component}_unavailable", message, kind, extra)
    if isinstance(exc, OnlineStoreError):  # refused (credentials, memory): not the client's fault
        return RequestProblem(503, "online_store_error", message, kind)
    if isinstance(exc, FeatureNotFoundError):
        return RequestProblem(404, "feature_not_found", message, kind)
    if isinstance(exc, UnknownObjectError):
        return RequestProblem(404, "unknown_object", message, kind)
    if isinstance(exc, EntityFrameError):
        return RequestProblem(422, "invalid_rows" if rows else "invalid_entities", message, kind)
    if isinstance(exc, RegistryError):
        return RequestProblem(503, "registry_unavailable", message, kind)
    if isinstance(exc, ConfigError):
        return RequestProblem(500, "server_misconfigured", message, kind)
    return RequestProblem(422, "rejected", message, kind)


async def read_body(request: Request, settings: ServerSettings) -> bytes:
    """The whole body, refusing (413) one larger than ``settings.max_body_bytes`` and (408)
    one that takes longer than ``settings.read_timeout`` to arrive.

    The declared Content-Length is checked first, then the bytes actually received, so a
    chunked or lying client cannot get past the limit. Before a 413 the rest of the body is
    read and discarded (up to ``settings.drain_bytes``, within the read timeout), so the
    client reads the answer rather than a connection reset; a client that asked
    ``Expect: 100-continue`` has sent nothing yet and gets its 413 at once. The header and
    the body are read straight from the ASGI scope and messages (building Starlette's header
    mapping and body stream costs more than the rest of a small read).

    Raises:
        ClientDisconnect: the client went away before sending the whole body.
    """
    limit = settings.max_body_bytes
    declared: int | None = None
    waits_for_continue = False
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1")
            try:
                declared = int(text)
            except ValueError:
                raise RequestProblem(
                    400, "bad_content_length", f"Content-Length {text!r} is not a number"
                ) from None
        elif name == b"expect" and value.lower() == b"100-continue":
            waits_for_continue = True
    receive = request.receive
    deadline = asyncio.get_running_loop().time() + settings.read_timeout
    if declared is not None and declared > limit:
        if not waits_for_continue:
            await _drain(receive, settings.drain_bytes, deadline)
        raise _too_large(declared, limit)
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await _receive(receive, deadline, settings.read_timeout)
        kind = message["type"]
        if kind == "http.request":
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if chunk:
                received += len(chunk)
                if received > limit:
                    if more:
                        await _drain(receive, settings.drain_bytes - received, deadline)
                    raise _too_large(received, limit)
                chunks.append(chunk)
            if not more:
                break
        elif kind == "http.disconnect":
            raise ClientDisconnect()
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


async def _receive(receive: Receive, deadline: float, timeout: float) -> Message:
    remaining = deadline - asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(max(remaining, 0.0)):
            return await receive()
    except TimeoutError:
        raise RequestProblem(
            408,
            "request_timeout",
            f"the request body did not arrive within {timeout:g} s: send it faster, or start "
            "the server with a larger server.read_timeout",
        ) from None


async def _drain(receive: Receive, budget: int, deadline: float) -> None:
    """Read and discard the rest of a body, up to ``budget`` bytes and until ``deadline``."""
    loop = asyncio.get_running_loop()
    while budget > 0:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            async with asyncio.timeout(remaining):
                message = await receive()
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def check_entities(entities: dict[str, list[Any]], limit: int) -> None:
    """Refuse (413) a read of more than ``limit`` entities.

    >>> try:
    ...     check_entities({"user_id": [1, 2, 3]}, 2)
    ... except RequestProblem as problem:
    ...     print(problem.status, problem.code)
    413 too_many_entities
    """
    count = len(next(iter(entities.values()), ()))
    if count > limit:
        raise RequestProblem(
            413,
            "too_many_entities",
            f"the request asks for {count:,} entities, over the server's limit of {limit:,}: "
            f"split it into requests of at most {limit:,} entities, or raise "
            "server.max_entities in feature_store.yaml",
        )


def _too_large(size: int, limit: int) -> RequestProblem:
    return RequestProblem(
        413,
        "body_too_large",
        f"the request body has {size:,}+ bytes, over the server's limit of {limit:,}: send "
        "fewer entities or rows per request, or start the server with a larger "
        "--max-body-bytes (server.max_body_bytes in feature_store.yaml)",
    )


def _load_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise RequestProblem(400, "empty_body", "the request body is empty: send a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestProblem(
            400, "malformed_json", f"the request body is not valid JSON ({exc}): send a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise RequestProblem(
            400,
            "malformed_json",
            f"the request body must be a JSON object, got a JSON {_json_type(data)}",
        )
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _shape(message: str) -> RequestProblem:
    return RequestProblem(422, "invalid_request", message)


def _columns(value: Any, field: str, scalars_only: bool) -> dict[str, list[Any]]:
    """``{name: [values]}`` with lists of one length (scalars only when asked)."""
    if not isinstance(value, dict):
        raise _shape(
            f"`{field}` must be an object of column name to list of values, got a JSON "
            f'{_json_type(value)}: send e.g. {{"user_id": [1001, 1002]}}'
        )
    length = None
    for name, values in value.items():
        if not isinstance(values, list):
            raise _shape(
                f"`{field}.{name}` must be a list of values (one per row), got a JSON "
                f"{_json_type(values)}: send e.g. [{values!r}]"[:400]
            )
        if length is None:
            length = len(values)
        elif len(values) != length:
            lengths = {k: len(v) for k, v in value.items() if isinstance(v, list)}
            raise _shape(
                f"the lists of `{field}` have different lengths {lengths}: give every column "
                "one value per row"
            )
        if scalars_only:
            for v in values:
                if not isinstance(v, _SCALARS):
                    raise _shape(
                        f"`{field}.{name}` holds a JSON {_json_type(v)}; entity key values must "
                        "be strings, numbers, booleans or null"
                    )
    return value


def parse_get_online_features(
    body: bytes, store: FeatureStore
) -> tuple[FeatureRequest, dict[str, list[Any]], bool]:
    """``(features, entities, full_feature_names)`` of a ``/get-online-features`` body."""
    data = _load_object(body)
    features = data.get("features")
    service = data.get("feature_service")
    request: FeatureRequest
    if features is not None and service is not None:
        raise _shape("give either `features` or `feature_service`, not both")
    if features is not None:
        if not isinstance(features, list) or not features:
            raise _shape(
                "`features` must be a non-empty list of 'view:feature' strings, e.g. "
                '["user_stats:total_purchases"]'
            )
        for ref in features:
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise _shape(
                    f"feature reference {ref!r} is malformed: write 'view:feature', e.g. "
                    "'user_stats:total_purchases'"
                )
        request = features
    elif service is not None:
        if not isinstance(service, str):
            raise _shape(f"`feature_service` must be a string, got a JSON {_json_type(service)}")
        request = store.get_feature_service(service)
    else:
        raise _shape(
            "the body needs `features` (a list of 'view:feature') or `feature_service` "
            "(a service name)"
        )
    if "entities" not in data:
        raise _shape('the body needs `entities`, e.g. {"user_id": [1001, 1002]}')
    entities = _columns(data["entities"], "entities", scalars_only=True)
    full = data.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise _shape(f"`full_feature_names` must be true or false, got {full!r}")
    return request, entities, full


def parse_push(body: bytes) -> tuple[str, dict[str, list[Any]], str]:
    """``(push_source_name, columns, to)`` of a ``/push`` body."""
    data = _load_object(body)
    name = data.get("push_source_name")
    if not isinstance(name, str) or not name:
        raise _shape("the body needs `push_source_name`, the name of a push source")
    if "df" not in data:
        raise _shape("the body needs `df`: the rows as {column: [values]}")
    columns = _columns(data["df"], "df", scalars_only=False)
    to = data.get("to", "online")
    if to not in PUSH_TARGETS:
        raise _shape(f"`to` must be one of {', '.join(PUSH_TARGETS)}, got {to!r}")
    return name, columns, to
