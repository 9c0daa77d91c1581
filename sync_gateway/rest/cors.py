"""CORS on ``/sync`` and ``/api`` for browser and hybrid apps: exact origins, with credentials.

What is answered follows CouchDB's ``chttpd_cors`` (``[cors]`` with ``credentials = true``) and
Sync Gateway's ``cors`` block; the origins are ``settings.cors_origins``
(``FIELDSYNC_CORS_ORIGINS``), exact and case-sensitive as the browser sends them, never ``*``::

    no Origin, an Origin not listed, a path outside /sync and /api     untouched: no CORS headers
    OPTIONS + listed Origin + Access-Control-Request-Method, the method in METHODS and every
    requested header in HEADERS                                          204, answered here:
        Access-Control-Allow-Origin: <that origin>
        Access-Control-Allow-Credentials: true
        Access-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, PATCH
        Access-Control-Allow-Headers: <the requested headers, as CouchDB echoes them>
        Access-Control-Max-Age: <settings.cors_max_age_s>  (600 s, CouchDB's default)
        Vary: Origin
    OPTIONS that is not such a preflight (method or a header not allowed)  passed on, as in
                                                                          CouchDB: the route's
                                                                          own 405, no CORS headers
    any other request from a listed origin                              the response gains
        Access-Control-Allow-Origin, Access-Control-Allow-Credentials, Access-Control-Expose-Headers
        (EXPOSE), Vary: Origin

Credentials are always allowed for a listed origin because PouchDB's browser build sends every
request with ``credentials: 'include'`` (so a response without ``Allow-Credentials`` fails even
for Bearer tokens) and because the ``/sync`` session cookie needs it. That is why a wildcard is
refused when the settings are read. This runs before both the gateway and the API, since
``/sync`` is dispatched past the API's middleware (field_api/app.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
# CouchDB's SUPPORTED_HEADERS, plus ours (X-Device-Id) and what EventSource may send
HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "cache-control",
        "content-language",
        "content-length",
        "content-range",
        "content-type",
        "destination",
        "expires",
        "if-match",
        "if-none-match",
        "last-event-id",
        "last-modified",
        "origin",
        "pragma",
        "x-couch-full-commit",
        "x-couch-id",
        "x-couch-persist",
        "x-couchdb-www-authenticate",
        "x-device-id",
        "x-http-method-override",
        "x-requested-with",
    }
)
# what a script may read from a response, beyond the CORS-safelisted ones (CouchDB's list plus
# Retry-After, which /sync sends with 503 and the sign-in throttle with 429)
EXPOSE = "content-type, etag, retry-after, www-authenticate, x-couch-update-newrev, location"


def covered(path: str) -> bool:
    """Whether a path gets CORS: the gateway and the API, not the console or health checks."""
    return path == "/sync" or path.startswith(("/sync/", "/api/"))


class CorsPolicy:
    """The listed origins and what to answer them; :meth:`serve` wraps an ASGI app."""

    def __init__(self, origins: Iterable[str], max_age_s: int) -> None:
        self.origins = frozenset(origins)
        self.max_age = str(max_age_s).encode()

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin in self.origins

    async def serve(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Run ``app`` for one request, answering a preflight or adding headers as above."""
        path: str = scope.get("path", "")
        origin = _header(scope, b"origin")
        if not self.allows(origin) or not covered(path):
            await app(scope, receive, send)
            return
        assert origin is not None
        if scope["method"] == "OPTIONS":
            requested = _header(scope, b"access-control-request-method")
            if requested is not None:
                asked = _header(scope, b"access-control-request-headers")
                headers = self._preflight(origin, requested, asked)
                if headers is not None:
                    await send({"type": "http.response.start", "status": 204, "headers": headers})
                    await send({"type": "http.response.body", "body": b""})
                    return
            await app(scope, receive, send)
            return
        added = [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", EXPOSE.encode()),
        ]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ]
                message = {**message, "headers": _vary_origin(headers) + added}
            await send(message)

        await app(scope, receive, send_with_cors)

    def _preflight(
        self, origin: str, method: str, requested_headers: str | None
    ) -> list[tuple[bytes, bytes]] | None:
        if method not in METHODS:
            return None
        asked = [h.strip() for h in (requested_headers or "").split(",") if h.strip()]
        if any(h.lower() not in HEADERS for h in asked):
            return None
        headers = [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", ", ".join(METHODS).encode()),
            (b"access-control-max-age", self.max_age),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        if asked:
            headers.append((b"access-control-allow-headers", ", ".join(asked).encode()))
        return headers


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with ``Origin`` added to ``Vary`` (merged into one there already is)."""
    out = []
    merged = False
    for key, value in headers:
        if key.lower() == b"vary" and not merged:
            if b"origin" not in value.lower():
                value = value + b", Origin"
            merged = True
        out.append((key, value))
    if not merged:
        out.append((b"vary", b"Origin"))
    return out
