"""``Client``: the online API of a remote feature server, mirroring the in-process one.

Example:
    >>> from skewless.client import Client
    >>> client = Client("http://127.0.0.1:6566")  # doctest: +SKIP
    >>> client.get_online_features(["user_stats:total_purchases"],
    ...     entity_rows=[{"user_id": 1001}]).to_dict()  # doctest: +SKIP
    {'user_id': [1001], 'total_purchases': [42]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import httpx
import orjson

from skewless import errors
from skewless.definitions import FeatureService
from skewless.errors import FeatureServerError, SkewlessError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Client", "FeatureServerError", "HttpJsonClient", "RemoteOnlineResponse"]

_EPOCH = "1970-01-01T00:00:00Z"
_DUMPS_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY


class RemoteOnlineResponse:
    """An online read answered by a feature server; the in-process ``OnlineResponse``'s API.

    ``event_timestamps`` holds None where the server had no stored row (and for join keys).
    """

    def __init__(self, payload: Mapping[str, Any]) -> None:
        names = payload["metadata"]["feature_names"]
        results = payload["results"]
        self._names: list[str] = list(names)
        self._results: list[Mapping[str, Any]] = list(results)

    @property
    def feature_names(self) -> list[str]:
        """Every output column name: join keys first, then features."""
        return list(self._names)

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name to list of values, join keys first (Feast's shape)."""
        return {n: list(r["values"]) for n, r in zip(self._names, self._results, strict=True)}

    @property
    def statuses(self) -> dict[str, list[str]]:
        """The status of every value, in the shape of :meth:`to_dict`."""
        return {n: list(r["statuses"]) for n, r in zip(self._names, self._results, strict=True)}

    @property
    def event_timestamps(self) -> dict[str, list[datetime | None]]:
        """The event time (aware UTC) behind each value; None without a stored row."""
        return {
            n: [_parse_time(t) for t in r["event_timestamps"]]
            for n, r in zip(self._names, self._results, strict=True)
        }

    def to_df(self) -> pd.DataFrame:
        """The values as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.to_dict())


def _parse_time(text: str) -> datetime | None:
    if text == _EPOCH:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class HttpJsonClient:
    """A connection pool to one skewless server speaking JSON (the base of the clients).

    Args:
        url: the server's base URL.
        timeout: seconds to wait for connecting and for each answer.
        max_connections: connections kept open to the server.
        headers: extra headers sent with every request (e.g. authorization).
    """

    server = "the feature server"
    command = "skewless serve"

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        *,
        max_connections: int = 32,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"content-type": "application/json", **dict(headers or {})},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(
        self, path: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> Any:
        try:
            content = orjson.dumps(body, default=_default, option=_DUMPS_OPTIONS)
        except TypeError as exc:
            raise FeatureServerError(
                f"cannot send the request to {self.url}{path} as JSON ({exc}): pass plain "
                "values (numbers, strings, booleans, datetimes)"
            ) from None
        return self._request("POST", path, content, headers)

    def _request(
        self,
        method: str,
        path: str,
        content: bytes | None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise FeatureServerError(
                f"cannot reach {self.server} at {self.url} ({type(exc).__name__}: {exc}): "
                f"check the URL and that `{self.command}` is running"
            ) from None
        if response.status_code >= 400:
            raise _error_of(response)
        return orjson.loads(response.content)


class Client(HttpJsonClient):
    """A connection pool to one skewless (or Feast-compatible) feature server.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:6566``.
        timeout: seconds to wait for connecting and for each answer.
        max_connections: connections kept open to the server.
        headers: extra headers sent with every request (e.g. authorization).

    Errors the server answers with are raised as the matching
    :class:`~skewless.errors.SkewlessError` subclass (``FeatureNotFoundError``,
    ``EntityFrameError``, ...) carrying the server's message; others as
    :class:`FeatureServerError`. Use as a context manager, or call :meth:`close`.
    """

    # -- API -------------------------------------------------------------------------------
    def get_online_features(
        self,
        features: Sequence[str] | FeatureService | str,
        entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]] | Any,
        full_feature_names: bool = False,
    ) -> RemoteOnlineResponse:
        """The latest values for ``entity_rows``, with a status per value.

        Args:
            features: ``["view:feature", ...]``, a FeatureService, or a service's name.
            entity_rows: ``[{"user_id": 1}, ...]``, ``{"user_id": [1, ...]}`` or a DataFrame.
            full_feature_names: name columns ``view__feature`` instead of ``feature``.
        """
        body: dict[str, Any] = {"entities": _columns(entity_rows, "entity_rows")}
        if isinstance(features, FeatureService):
            body["feature_service"] = features.name
        elif isinstance(features, str):
            if ":" in features:
                body["features"] = [features]
            else:
                body["feature_service"] = features
        else:
            body["features"] = list(features)
        if full_feature_names:
            body["full_feature_names"] = True
        return RemoteOnlineResponse(self._post("/get-online-features", body))

    def push(self, push_source_name: str, rows: Any, to: str = "online") -> dict[str, Any]:
        """Write ``rows`` (list of dicts, dict of lists, pandas, polars or Arrow) through a
        push source; ``to`` is ``online``, ``offline`` or ``online_and_offline``.

        Returns the server's acknowledgement, e.g. ``{"status": "ok", "rows": 2, ...}``.
        """
        body = {"push_source_name": push_source_name, "df": _columns(rows, "rows"), "to": to}
        return self._post("/push", body)

    def health(self) -> dict[str, Any]:
        """The server's ``/health`` answer (project and registry version)."""
        return self._request("GET", "/health", None)


_BY_CODE: dict[str, type[SkewlessError]] = {
    "feature_not_found": errors.FeatureNotFoundError,
    "unknown_object": errors.UnknownObjectError,
    "invalid_entities": errors.EntityFrameError,
    "invalid_rows": errors.EntityFrameError,
    "registry_unavailable": errors.RegistryError,
}


def _error_of(response: httpx.Response) -> SkewlessError:
    status = response.status_code
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or "detail" not in body:
        return FeatureServerError(
            f"the feature server answered {status} {response.reason_phrase}: {response.text[:300]}",
            status,
        )
    message = str(body["detail"])
    kind = getattr(errors, str(body.get("type")), None) or _BY_CODE.get(str(body.get("error")))
    if isinstance(kind, type) and issubclass(kind, SkewlessError):
        error = kind(message)
        error.status, error.code = status, body.get("error")  # type: ignore[attr-defined]
        return error
    return FeatureServerError(message, status, body.get("error"))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):  # pandas.Timestamp and other subclasses
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _columns(rows: Any, what: str) -> dict[str, list[Any]]:
    """Rows in any accepted form as ``{column: [values]}``."""
    if isinstance(rows, Mapping):
        return {str(k): list(v.tolist() if hasattr(v, "tolist") else v) for k, v in rows.items()}
    if hasattr(rows, "to_pydict"):  # pyarrow.Table
        columns: dict[str, list[Any]] = rows.to_pydict()
        return columns
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        try:  # polars
            return dict(rows.to_dict(as_series=False))
        except TypeError:  # pandas
            return {str(c): rows[c].tolist() for c in rows.columns}
    if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        if not rows:
            return {}
        if not all(isinstance(r, Mapping) for r in rows):
            raise errors.EntityFrameError(
                f"{what} must be a list of dicts, a dict of lists or a DataFrame: pass e.g. "
                "[{'user_id': 1001}]"
            )
        names = list(rows[0])
        out: dict[str, list[Any]] = {n: [] for n in names}
        for i, row in enumerate(rows):
            if set(row) != set(names):
                raise errors.EntityFrameError(
                    f"{what}[{i}] has columns {sorted(row)} but {what}[0] has {sorted(names)}: "
                    "give every row the same columns"
                )
            for n in names:
                out[n].append(row[n])
        return out
    raise errors.EntityFrameError(
        f"{what} must be a list of dicts, a dict of lists or a DataFrame, got "
        f"{type(rows).__name__}: pass e.g. [{{'user_id': 1001}}]"
    )
