"""``/sync/_session``: CouchDB's cookie sessions, for browser apps and clients that sign in that way
(pouchdb-authentication's ``db.logIn()``, Couchbase Lite, any ``POST <server>/_session``).

    POST   /sync/_session   {"name", "password"} as JSON or a form
           → 200 {"ok": true, "name": "alice", "roles": ["rep"]}  + Set-Cookie: AuthSession=...
           → 401 {"error": "unauthorized", "reason"}  wrong name or password, user disabled
           → 400 name or password missing;  403 from an origin that may not sign in (see below)
    GET    /sync/_session
           → 200 {"ok": true, "userCtx": {"name": "alice" | null, "roles": ["rep"] | []},
                  "info": {"authentication_handlers": ["cookie", "default"],
                           "authenticated": "cookie" | "default", "sync_url": ...}}
             (an expired or signed-out cookie reads as nobody, as in CouchDB; a refused
             Authorization header is a 401)
    DELETE /sync/_session   → 200 {"ok": true}: the session is signed out on the server (its
                              token is refused from now on, in every process within the
                              authenticator's 5 s user cache) and the cookie is cleared

The cookie and when it is accepted are in cookies.py. Sign-in from a browser is refused unless its
``Origin`` is listed in ``FIELDSYNC_CORS_ORIGINS`` or is the service's own, as Sync Gateway's
``login_origin`` does: no other site can sign a browser in behind its user's back.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mobile_schema import is_field_role

from .. import metrics
from ..auth import tokens
from ..auth.authenticate import Authenticator, Principal
from ..auth.errors import AuthenticationFailed, NoCredentials
from ..auth.throttle import SignInThrottled
from ..gateway import Gateway
from ..gateway import of as gateway_of
from .cookies import COOKIE, CookieRefused, clear_cookie, credentials, origin_allowed, set_cookie
from .encoding import BodyError, read_body
from .errors import JSON, couch_error
from .responses import json_response

MAX_SIGN_IN_BYTES = 16_000


async def session(request: Request) -> Response:
    """``/sync/_session``: sign in (POST), who is signed in (GET), sign out (DELETE)."""
    started = time.perf_counter()
    response = await _session(request)
    metrics.REQUESTS.labels("session", str(response.status_code)).inc()
    metrics.LATENCY.labels("session").observe(time.perf_counter() - started)
    return response


async def _session(request: Request) -> Response:
    gateway = gateway_of(request)
    authenticator = gateway.auth.authenticator
    try:
        if request.method == "POST":
            return await _sign_in(request, authenticator)
        if request.method == "DELETE":
            return await _sign_out(request, authenticator)
        return await _who(request, gateway, authenticator)
    except BodyError as exc:
        return couch_error(exc.status, exc.error, exc.reason)
    except CookieRefused as exc:
        return couch_error(403, "forbidden", str(exc))


async def _sign_in(request: Request, authn: Authenticator) -> Response:
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(request, origin):
        return couch_error(
            403,
            "forbidden",
            f"sign-in from {origin[:100]} is not allowed: that origin is not listed in "
            "FIELDSYNC_CORS_ORIGINS",
        )
    name, password = await _name_and_password(request)
    client = request.client.host if request.client else None
    try:
        user = await authn.check_password(name, password, client=client)
    except SignInThrottled as exc:
        return Response(
            orjson.dumps({"error": "too_many_requests", "reason": exc.reason}),
            429,
            media_type=JSON,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    except AuthenticationFailed as exc:
        # no WWW-Authenticate here: a browser would answer it with its own password dialog
        return Response(
            orjson.dumps({"error": "unauthorized", "reason": str(exc)}), 401, media_type=JSON
        )
    token = tokens.issue(user, authn.settings)
    claims = tokens.decode(token, authn.settings)
    response = json_response(request, {"ok": True, "name": user["id"], "roles": [user["role"]]})
    response.headers.append("Set-Cookie", set_cookie(request, token, claims.exp))
    response.headers["Cache-Control"] = "no-store"
    return response


async def _name_and_password(request: Request) -> tuple[str, str]:
    raw = await read_body(request, MAX_SIGN_IN_BYTES)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: Any
    if content_type == "application/x-www-form-urlencoded":
        form = parse_qs(raw.decode("utf-8", "replace"))
        fields = {key: values[0] for key, values in form.items()}
    else:
        try:
            fields = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, "bad_request", f"invalid UTF-8 JSON: {exc}") from exc
    name = fields.get("name") if isinstance(fields, dict) else None
    password = fields.get("password") if isinstance(fields, dict) else None
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        raise BodyError(
            400,
            "bad_request",
            'send {"name", "password"} as JSON or as a form (application/x-www-form-urlencoded)',
        )
    return name, password


async def _who(request: Request, gateway: Gateway, authn: Authenticator) -> Response:
    from_cookie = not request.headers.get("authorization")
    principal: Principal | None = None
    try:
        principal = await authn.authenticate(credentials(request))
    except NoCredentials:
        pass
    except AuthenticationFailed as exc:
        if not from_cookie:
            return couch_error(401, "unauthorized", str(exc))
    info: dict[str, Any] = {"authentication_handlers": ["cookie", "default"]}
    if principal is None:
        return json_response(
            request, {"ok": True, "userCtx": {"name": None, "roles": []}, "info": info}
        )
    info["authenticated"] = "cookie" if from_cookie else "default"
    if is_field_role(principal.role):
        db = gateway.runtime.dbs.rep(principal.user_id)
        info["sync_url"] = f"{gateway.runtime.config.public_base}/sync/{db}"
    user_ctx = {"name": principal.user_id, "roles": [principal.role]}
    return json_response(request, {"ok": True, "userCtx": user_ctx, "info": info})


async def _sign_out(request: Request, authn: Authenticator) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        try:
            principal = await authn.authenticate(f"Bearer {token}")
            claims = tokens.decode(token, authn.settings)
        except AuthenticationFailed:
            pass  # expired, revoked or not ours: nothing left to sign out
        else:
            await authn.store.sign_out_token(principal.user_id, claims.jti, claims.exp)
            authn.forget(principal.user_id)
    response = json_response(request, {"ok": True})
    response.headers.append("Set-Cookie", clear_cookie(request))
    return response


routes = [Route("/sync/_session", session, methods=["GET", "POST", "DELETE"])]
