"""Errors on ``/sync``, in CouchDB's own ``{"error", "reason"}`` shape (replicators read it).

    Exception
     └── GatewayError     a request the gateway answers itself: status, error, reason, headers

Other exceptions reach the answer through :func:`.context.endpoint`, the one place that maps
them (``encoding.BodyError``, ``cookies.CookieRefused``, ``feeds.FeedRequestError``, the CouchDB
client's errors: unavailable -> 503 with ``Retry-After``, an HTTP error passed on as CouchDB
sent it). :func:`couch_error` renders every such answer; a 503 carries ``Retry-After: 5`` and a
401 the ``WWW-Authenticate`` challenge unless the caller gives headers of its own.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

JSON = "application/json"


class GatewayError(Exception):
    """A request the gateway answers itself with a CouchDB-style error."""

    def __init__(
        self, status: int, error: str, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.headers = headers


def couch_error(
    status: int, error: str, reason: str, headers: dict[str, str] | None = None
) -> Response:
    if headers is None and status == 503:
        headers = {"Retry-After": "5"}
    if headers is None and status == 401:
        headers = {"WWW-Authenticate": 'Basic realm="fieldsync", Bearer'}
    return Response(
        orjson.dumps({"error": error, "reason": reason}), status, headers, media_type=JSON
    )
