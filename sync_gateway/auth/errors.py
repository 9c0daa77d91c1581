"""Errors of ``sync_gateway.auth``; one base class, each carrying a reason a person can act on.

    AuthError                       base of everything this package raises on purpose
    ├── AuthenticationFailed        authenticate() refused the credentials (HTTP 401)
    │   ├── NoCredentials           "no credentials"
    │   ├── WrongCredentials        "wrong user name or password"
    │   ├── UserDisabled            "user disabled"
    │   ├── TokenExpired            "token expired"
    │   ├── TokenRevoked            "token revoked"
    │   ├── TokenInvalid            bad signature, wrong algorithm, missing claims
    │   └── TokenMalformed          not a JWT at all
    ├── UserExists                  a user with this id already exists (HTTP 409)
    ├── UserNotFound                no such user (HTTP 404)
    └── InvalidInput                bad user id, role, time zone, password or device (HTTP 422)

``str(exc)`` is the reason; the gateway sends it in CouchDB's ``{"error", "reason"}`` form and the
API in problem+json, so it must never leak a secret (no passwords, no tokens).
"""

from __future__ import annotations


class AuthError(Exception):
    """Base of every error of the auth package."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthenticationFailed(AuthError):
    """The request's credentials were refused."""


class NoCredentials(AuthenticationFailed):
    def __init__(self, reason: str = "no credentials") -> None:
        super().__init__(reason)


class WrongCredentials(AuthenticationFailed):
    def __init__(self, reason: str = "wrong user name or password") -> None:
        super().__init__(reason)


class UserDisabled(AuthenticationFailed):
    def __init__(self, reason: str = "user disabled") -> None:
        super().__init__(reason)


class TokenExpired(AuthenticationFailed):
    def __init__(self, reason: str = "token expired; ask for a new one") -> None:
        super().__init__(reason)


class TokenRevoked(AuthenticationFailed):
    def __init__(self, reason: str = "token revoked; sign in again") -> None:
        super().__init__(reason)


class TokenInvalid(AuthenticationFailed):
    """The token is a JWT but not one we issued (bad signature) or lacks our claims."""


class TokenMalformed(AuthenticationFailed):
    """The token cannot even be decoded as a JWT."""


class UserExists(AuthError):
    pass


class UserNotFound(AuthError):
    pass


class InvalidInput(AuthError):
    pass
