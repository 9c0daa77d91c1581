"""Who is asking, on which database: the wrapper every ``/sync`` endpoint runs in.

:func:`endpoint` wraps a handler ``(request, SyncContext) -> Response``: it authenticates the
request (Bearer token, Basic, or the session cookie of session.py), checks that the database is
the caller's own (``rep_<id>``, field roles only: ``mobile_schema.is_field_role``), checks
``X-Device-Id`` (the device id rule of ``/api/v1/me/devices``; 400 otherwise), maps every error
to CouchDB's form (the one place that does), and counts the request and its latency.

The small hooks beside it are what an endpoint tells the rest of the process:
:func:`record_activity` (a device's pull / push, per device), :func:`mark_pushing` (a push is
under way: the router lets it settle), :func:`notify_written` (wake the live feeds and the
router), and :func:`shape_latest` (``latest`` dropped where the backend crashes on it).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from mobile_schema import is_field_role

from .. import metrics
from ..auth.devices import DEVICE_ID_RE, DEVICE_ID_RULE
from ..couch import CouchHTTPError, CouchUnavailable
from ..feeds import FeedRequestError
from ..gateway import Gateway
from ..gateway import of as gateway_of
from .cookies import CookieRefused, credentials
from .encoding import BodyError
from .errors import GatewayError, couch_error

Handler = Callable[[Request, "SyncContext"], Awaitable[Response]]


class SyncContext:
    """One authenticated request on the user's own database."""

    def __init__(self, gateway: Gateway, db: str, user_id: str, role: str, device_id: str) -> None:
        self.gateway = gateway
        self.runtime = runtime = gateway.runtime
        self.couch = runtime.couch
        self.settings = runtime.config
        self.db = db
        self.user_id = user_id
        self.role = role
        self.device_id = device_id


def endpoint(
    name: str, *, needs_db: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: authenticate, check the database, map errors, count."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            try:
                ctx = await _authorize(request, needs_db)
                response = await handler(request, ctx)
            except GatewayError as exc:
                response = couch_error(exc.status, exc.error, exc.reason, exc.headers)
            except BodyError as exc:
                response = couch_error(exc.status, exc.error, exc.reason)
            except FeedRequestError as exc:
                response = couch_error(400, "bad_request", str(exc))
            except orjson.JSONEncodeError:
                response = couch_error(400, "bad_request", "the JSON nests too deeply to be stored")
            except CouchUnavailable:
                response = couch_error(
                    503, "service_unavailable", "the database is not answering; retry shortly"
                )
            except CouchHTTPError as exc:
                response = couch_error(exc.status, exc.error, exc.reason)
            except ClientDisconnect:
                # the device went away while sending (a phone losing signal): nobody to answer,
                # and nothing was done with a half-received body
                response = Response(status_code=499)
            metrics.REQUESTS.labels(name, str(response.status_code)).inc()
            metrics.LATENCY.labels(name).observe(time.perf_counter() - started)
            return response

        return run

    return wrap


async def _authorize(request: Request, needs_db: bool) -> SyncContext:
    from ..auth.errors import AuthenticationFailed
    from ..auth.throttle import SignInThrottled

    gateway = gateway_of(request)
    runtime = gateway.runtime
    if runtime.embedded is not None and not runtime.embedded.available:
        raise GatewayError(503, "service_unavailable", "the database is restarting; retry shortly")
    authenticator = gateway.auth.authenticator
    try:
        principal = await authenticator.authenticate(
            credentials(request), client=request.client.host if request.client else None
        )
    except AuthenticationFailed as exc:
        raise GatewayError(401, "unauthorized", str(exc)) from exc
    except CookieRefused as exc:
        raise GatewayError(403, "forbidden", str(exc)) from exc
    except SignInThrottled as exc:
        raise GatewayError(
            429, "too_many_requests", exc.reason, {"Retry-After": str(exc.retry_after_s)}
        ) from exc
    db = request.path_params.get("db", "")
    if needs_db:
        own = runtime.dbs.rep(principal.user_id) if is_field_role(principal.role) else None
        if db != own:
            raise GatewayError(
                403,
                "forbidden",
                f"you may only replicate your own database ({own})"
                if own
                else f"a {principal.role} has no database to replicate",
            )
    device = request.headers.get("x-device-id") or "unknown"
    if not DEVICE_ID_RE.match(device):
        # the rule of POST /api/v1/me/devices: no markup, no unbounded text in device records
        raise GatewayError(400, "bad_request", f"X-Device-Id is not valid: {DEVICE_ID_RULE}")
    return SyncContext(gateway, db, principal.user_id, principal.role, device)


def record_activity(ctx: SyncContext, request: Request, kind: str) -> None:
    ctx.gateway.activity.record(
        ctx.user_id, ctx.device_id, kind, request.headers.get("user-agent", "")
    )


def shape_latest(ctx: SyncContext, params: dict[str, Any]) -> dict[str, Any]:
    """PouchDB Server 4.2 crashes on ``latest=true`` with a revision it does not have (one
    request from any device would take the database down). There the gateway drops ``latest``:
    the replicator then stores the revision it asked for and the next changes pass brings the
    newer leaf, so devices still converge. CouchDB gets ``latest`` as asked."""
    if ctx.gateway.backend_crashes_on_latest:
        params.pop("latest", None)
    return params


def mark_pushing(ctx: SyncContext) -> None:
    """A device is in the middle of a push (its ``_revs_diff``, its checkpoint): the router
    lets the push settle before carrying it in (router/settle.py)."""
    ctx.gateway.router.push_request_ended(ctx.db)


def notify_written(ctx: SyncContext) -> None:
    """Wake this user's other devices' live feeds and the router now, not at their next round."""
    ctx.gateway.live.notify(ctx.db)
    ctx.gateway.router.notify_rep_changed(ctx.user_id)
