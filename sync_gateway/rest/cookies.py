"""The ``/sync`` session cookie: what it carries, its attributes, and when a request may use it.

    Set-Cookie: AuthSession=<access token>; Path=/sync; Max-Age=<token lifetime>; Expires=...;
                HttpOnly; SameSite=None; Secure; Partitioned

- The value is an access token of the same kind as ``POST /api/v1/auth/token`` gives (a JWT,
  ``auth/tokens.py``): a request carrying the cookie and no ``Authorization`` header is
  authenticated exactly as ``Authorization: Bearer <value>``, by the same authenticator, so it
  expires with the token and dies with every revocation the authenticator checks (sign-out,
  ``revoke-tokens``, deactivation, and what else is added there).
- ``Path=/sync``: the API never receives it; ``/api`` is Bearer only, so it has no CSRF surface.
- ``SameSite`` is ``settings.session_cookie_samesite``. The default ``none`` (with ``Secure``, which
  browsers require for it, and ``Partitioned``, CHIPS) is what lets a page of another *site* (a
  hybrid app's ``capacitor://localhost`` or ``http://localhost``, a PWA on another domain) keep
  the cookie: browsers that block third-party cookies still keep a partitioned one, keyed to the
  app's top-level site. ``lax`` suits apps served from the same site as the gateway over plain
  http on a LAN (no ``Secure`` there: browsers drop ``Secure`` cookies from http hosts other than
  localhost). ``Secure`` is also set whenever the request or ``FIELDSYNC_PUBLIC_URL`` is https.
- Cross-site request forgery: with ``SameSite=None`` any site can make a browser send the cookie.
  A request that authenticates with it and carries an ``Origin`` that is neither listed in
  ``FIELDSYNC_CORS_ORIGINS`` nor the service's own is refused (403), before anything is read or
  written. Browsers send ``Origin`` on every cross-origin request and on every POST, so a forged
  form post or fetch never gets through; clients outside browsers send none and are unaffected.
"""

from __future__ import annotations

import time
from email.utils import formatdate

from starlette.requests import Request

from ..config import normalize_origin
from ..gateway import of as gateway_of

COOKIE = "AuthSession"  # CouchDB's name: pouchdb-authentication and Couchbase Lite expect it
PATH = "/sync"


class CookieRefused(Exception):
    """The session cookie came from an origin that may not use it (HTTP 403)."""


def credentials(request: Request) -> str | None:
    """The request's ``Authorization`` header, or the session cookie as a Bearer credential."""
    header = request.headers.get("authorization")
    if header:
        return header
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(request, origin):
        raise CookieRefused(
            f"the session cookie is not accepted from {origin[:100]}: that origin is not "
            "listed in FIELDSYNC_CORS_ORIGINS"
        )
    return f"Bearer {token}"


def origin_allowed(request: Request, origin: str) -> bool:
    """A listed origin, or the service's own (its console, a page it serves)."""
    cors = getattr(request.app.state, "cors", None)
    if cors is not None and cors.allows(origin):
        return True
    try:
        normalized = normalize_origin(origin)
    except ValueError:
        return False
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    own.add(gateway_of(request).runtime.config.public_base)
    return normalized in {_origin_of(url) for url in own}


def set_cookie(request: Request, token: str, expires_at: float) -> str:
    """The ``Set-Cookie`` value that signs this browser in until ``expires_at`` (epoch s)."""
    max_age = max(0, int(expires_at - time.time()))
    expires = formatdate(expires_at, usegmt=True)
    return f"{COOKIE}={token}; Path={PATH}; Max-Age={max_age}; Expires={expires}; " + _flags(
        request
    )


def clear_cookie(request: Request) -> str:
    """The ``Set-Cookie`` value that removes the cookie (same attributes, or it stays)."""
    return f"{COOKIE}=; Path={PATH}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; " + _flags(
        request
    )


def _flags(request: Request) -> str:
    config = gateway_of(request).runtime.config
    samesite: str = config.session_cookie_samesite
    secure = (
        samesite == "none"
        or request.url.scheme == "https"
        or config.public_base.startswith("https://")
    )
    flags = ["HttpOnly", f"SameSite={samesite.capitalize()}"]
    if secure:
        flags.append("Secure")
    if samesite == "none":
        flags.append("Partitioned")
    return "; ".join(flags)


def _origin_of(url: str) -> str:
    try:
        return normalize_origin(url)
    except ValueError:
        return ""
