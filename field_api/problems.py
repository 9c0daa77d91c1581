"""Errors on ``/api`` as RFC 9457 ``application/problem+json``.

    ApiError                      every error a route raises on purpose
    ├── BadInput        400/422   the request is malformed or fails validation
    ├── NotAuthenticated 401      no, bad or expired credentials
    ├── NotAllowed      403       the role or the owner does not permit it
    ├── NotFound        404
    ├── Conflicting     409       illegal transition or concurrent change
    ├── TooManyRequests 429       too many failed sign-ins (``Retry-After``)
    └── ServiceUnavailable 503

One place, :func:`install`, turns these, FastAPI's own validation errors and the store's errors
into responses, so every error a person sees says what went wrong and what to do. Store errors
that a route did not turn into one of the above are mapped here, once:

    CouchUnavailable      → 503 + ``Retry-After``   (CouchDB down or restarting: retry later)
    CouchConflict         → 409                     (a write lost its revision race even after
                                                     the store's own retries: reload, try again)
    any other CouchError  → 500                     (logged; a bug or a misconfigured store)
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sync_gateway.couch import CouchConflict, CouchError, CouchUnavailable

log = structlog.get_logger(__name__)

PROBLEM = "application/problem+json"
# the same wait /sync and /healthz give: the embedded store's supervisor restarts it in seconds
RETRY_AFTER_S = 5


class ApiError(Exception):
    status = 400
    title = "Bad request"

    headers: dict[str, str] | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadInput(ApiError):
    status = 422
    title = "Invalid input"


class NotAuthenticated(ApiError):
    status = 401
    title = "Not authenticated"


class NotAllowed(ApiError):
    status = 403
    title = "Forbidden"


class NotFound(ApiError):
    status = 404
    title = "Not found"


class Conflicting(ApiError):
    status = 409
    title = "Conflict"


class TooManyRequests(ApiError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


class ServiceUnavailable(ApiError):
    status = 503
    title = "Service unavailable"


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    if headers is None and status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if headers is None and status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    """Register the handlers that render every /api error as problem+json."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(CouchUnavailable)
    async def _store_unavailable(request: Request, exc: CouchUnavailable) -> JSONResponse:
        log.warning("api_store_unavailable", path=request.url.path, error=str(exc))
        return problem(
            503,
            "Service unavailable",
            f"the database is not answering; retry in {RETRY_AFTER_S} s",
        )

    @app.exception_handler(CouchConflict)
    async def _store_conflict(request: Request, exc: CouchConflict) -> JSONResponse:
        log.info("api_store_conflict", path=request.url.path, reason=exc.reason)
        return problem(
            409,
            "Conflict",
            "the record kept changing while this request was saving it, so nothing was "
            f"changed ({exc.reason}); reload it and send the request again",
        )

    @app.exception_handler(CouchError)
    async def _store_error(request: Request, exc: CouchError) -> JSONResponse:
        log.error("api_store_error", path=request.url.path, error=str(exc))
        return problem(
            500,
            "Internal error",
            "the database refused a request the service made; this is a fault on our side, "
            "please report it with the time of the request",
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "reason": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field'] or 'body'}: {e['reason']}" for e in errors[:5])
        return problem(422, "Invalid input", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))
