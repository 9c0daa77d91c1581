"""Access tokens: JWT signed with HS256 and ``settings.jwt_secret``.

Claims::

    {"sub": "<user id>", "role": "rep", "iat": 1767225600.123, "exp": 1767268800, "jti": "<hex>"}

``iat`` keeps its fraction of a second (RFC 7519 allows non-integer NumericDates) because
revocation compares it with the user's ``tokens_valid_after``: a token signed in the same second
as, but after, a revocation must still work. ``exp`` = ``iat`` + ``settings.token_ttl_s``.
A token says who signed in; the role and the "disabled" flag are read from the user document at
each request, so a role change or a disabled account takes effect without waiting for ``exp``.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from ..config import GatewayConfig
from .errors import TokenExpired, TokenInvalid, TokenMalformed

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "role", "iat", "exp", "jti")


@dataclass(frozen=True)
class Claims:
    sub: str
    role: str
    iat: float
    exp: float
    jti: str


def issue(user: Mapping[str, Any], settings: GatewayConfig, *, now: float | None = None) -> str:
    """A signed token for ``user`` (a user document or any mapping with ``id`` and ``role``)."""
    issued = time.time() if now is None else now
    payload = {
        "sub": user["id"],
        "role": user["role"],
        "iat": issued,
        "exp": math.floor(issued) + settings.token_ttl_s,
        "jti": secrets.token_hex(12),
    }
    return jwt.encode(payload, signing_key(settings), algorithm=ALGORITHM)


def signing_key(settings: GatewayConfig) -> str:
    """The secret; set at start-up by ``secret.resolve_jwt_secret`` (never a default)."""
    if settings.jwt_secret is None or not settings.jwt_secret.get_secret_value():
        raise TokenInvalid("no signing secret is configured")
    return settings.jwt_secret.get_secret_value()


def decode(token: str, settings: GatewayConfig) -> Claims:
    """Verify and decode; raises TokenExpired, TokenInvalid or TokenMalformed with a reason."""
    try:
        payload = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired() from exc
    # InvalidSignatureError is a DecodeError: it must be caught first
    except jwt.InvalidSignatureError as exc:
        raise TokenInvalid("token signature is invalid; it was not issued by this service") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise TokenInvalid(f"token must be signed with {ALGORITHM}") from exc
    except jwt.DecodeError as exc:
        raise TokenMalformed("token is malformed; expected a JWT from /api/v1/auth/token") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenInvalid(f"token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenInvalid(f"token is invalid: {exc}") from exc
    sub, role, jti = payload["sub"], payload["role"], payload["jti"]
    if not (isinstance(sub, str) and isinstance(role, str) and isinstance(jti, str)):
        raise TokenInvalid("token claims sub, role and jti must be strings")
    return Claims(sub=sub, role=role, iat=float(payload["iat"]), exp=payload["exp"], jti=jti)
