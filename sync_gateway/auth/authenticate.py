"""Who is calling: ``Authorization`` header → :class:`Principal`, on every API and sync request.

Accepted forms::

    Authorization: Bearer <JWT from POST /api/v1/auth/token>
    Authorization: Basic base64("<user id>:<password>")     for replicators that only do Basic

(the ``/sync`` session cookie holds a token and arrives here as ``Bearer <token>``: rest/cookies.py)

This runs for every request of every device, so it is built to be cheap:

- user documents are cached for ``user_ttl_s`` (5 s): disabling a user, a revocation or a role
  change made by another process takes effect within that window; this process's own changes
  call :meth:`Authenticator.forget` and take effect at once;
- a successful Basic verification is cached for ``basic_ttl_s`` (5 min) under
  ``(user id, HMAC-SHA256(password))`` together with the password hash it matched, so argon2
  (slow by design) runs once per device and password, and a password change ends the entry.
  The HMAC key is random per process, so the cache holds nothing that could be cracked offline.
  Failures are never cached: each wrong password pays the full argon2 price;
- a verified token's claims are kept for ``token_ttl_s`` (60 s) under the token itself, so the
  signature is checked once per minute and device rather than on each of a pull's hundreds of
  requests; its expiry is still checked on every use, and only verified tokens are kept;
- concurrent misses for the same user (or the same Basic credentials) share one lookup;
- every password check (the token endpoint, Basic, any later sign-in door) is throttled by
  :class:`~.throttle.SignInThrottle` per client address and per user, before argon2 runs:
  pass the client address as ``client``.

Revocation: a token issued before the user's ``tokens_valid_after`` is refused. The check reads
the user document (cached 5 s, dropped at once by :meth:`Authenticator.forget` in the process
that made the change), never the 60 s claims cache, so a revocation takes effect at once here
and within 5 s in other processes. ``UserStore`` moves ``tokens_valid_after`` on a password
change, a role change and a deactivation.

The role and the name come from the user document, not from the token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from ..config import GatewayConfig
from . import tokens
from .cache import TTLCache
from .errors import (
    AuthenticationFailed,
    NoCredentials,
    TokenExpired,
    TokenRevoked,
    UserDisabled,
    WrongCredentials,
)
from .throttle import SignInThrottle
from .users import UserStore

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    name: str


def principal_of(doc: dict[str, Any]) -> Principal:
    return Principal(user_id=doc["id"], role=doc["role"], name=doc.get("name") or doc["id"])


class Authenticator:
    def __init__(
        self,
        store: UserStore,
        settings: GatewayConfig,
        *,
        user_ttl_s: float = 5.0,
        basic_ttl_s: float = 300.0,
        token_ttl_s: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.throttle = throttle or SignInThrottle(clock=clock)
        self._users: TTLCache[str, dict[str, Any]] = TTLCache(user_ttl_s, max_entries, clock)
        self._basic: TTLCache[tuple[str, bytes], str] = TTLCache(basic_ttl_s, max_entries, clock)
        self._tokens: TTLCache[str, tokens.Claims] = TTLCache(token_ttl_s, max_entries, clock)
        self._hmac_key = secrets.token_bytes(32)
        self._inflight: dict[Hashable, asyncio.Task[Any]] = {}

    async def authenticate(
        self, authorization_header: str | None, *, client: str | None = None
    ) -> Principal:
        """The caller, or AuthenticationFailed (an AuthError) saying why not; SignInThrottled
        when Basic credentials come after too many failures (``client``: the address)."""
        header = (authorization_header or "").strip()
        if not header:
            raise NoCredentials()
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            if not value:
                raise NoCredentials("no credentials: the Bearer token is empty")
            return await self._bearer(value)
        if scheme.lower() == "basic":
            user_id, password = _parse_basic(value)
            return principal_of(await self.check_password(user_id, password, client=client))
        raise AuthenticationFailed(
            f"unsupported authorization scheme {scheme!r}; send 'Bearer <token>' or Basic"
        )

    async def check_password(
        self, user_id: str, password: str, *, client: str | None = None
    ) -> dict[str, Any]:
        """The user document when ``password`` is right and the user is active.

        The one door of every sign-in: throttled per ``client`` address and user (raises
        SignInThrottled before any verification when they must wait)."""
        user_id = user_id.strip().lower()[:128]
        self.throttle.check(user_id, client)
        try:
            doc = await self._verify(user_id, password)
        except WrongCredentials:
            self.throttle.failed(user_id, client)
            raise
        self.throttle.succeeded(user_id, client)
        if not doc.get("active", True):
            raise UserDisabled()
        return doc

    async def _verify(self, user_id: str, password: str) -> dict[str, Any]:
        doc = await self.user(user_id)
        if doc is None:
            # same cost as a wrong password, so timing does not reveal which ids exist
            await self.store.passwords.averify(None, password)
            raise WrongCredentials()
        digest = hmac.new(self._hmac_key, password.encode(), hashlib.sha256).digest()
        key = (user_id, digest)
        password_hash: str = doc.get("password_hash") or ""
        if not password_hash or self._basic.get(key) != password_hash:
            ok = await self._single_flight(
                ("verify", key, password_hash),
                lambda: self.store.passwords.averify(password_hash, password),
            )
            if not ok:
                raise WrongCredentials()
            self._basic.set(key, password_hash)
            await self._maybe_rehash(doc, password)
        return doc

    async def user(self, user_id: str) -> dict[str, Any] | None:
        """The user document, from the cache when it is at most ``user_ttl_s`` old."""
        doc = self._users.get(user_id)
        if doc is not None:
            return doc
        return await self._single_flight(("user", user_id), lambda: self._fetch(user_id))

    def forget(self, user_id: str) -> None:
        """Drop what is cached about a user (after changing them in this process)."""
        self._users.discard(user_id)
        self._inflight.pop(("user", user_id), None)

    async def _bearer(self, token: str) -> Principal:
        claims = self._tokens.get(token)
        if claims is None:
            claims = tokens.decode(token, self.settings)
            self._tokens.set(token, claims)
        elif claims.exp <= time.time():
            self._tokens.discard(token)
            raise TokenExpired()
        doc = await self.user(claims.sub)
        if doc is None:
            raise AuthenticationFailed("the user of this token no longer exists")
        if not doc.get("active", True):
            raise UserDisabled()
        valid_after = doc.get("tokens_valid_after")
        if valid_after is not None and claims.iat < float(valid_after):
            raise TokenRevoked()
        if claims.jti in (doc.get("signed_out") or ()):
            raise TokenRevoked("signed out; sign in again")
        return principal_of(doc)

    async def _fetch(self, user_id: str) -> dict[str, Any] | None:
        doc = await self.store.get_user(user_id)
        # a forget() during the read means the document may already be stale: do not keep it
        if doc is not None and self._inflight.get(("user", user_id)) is asyncio.current_task():
            self._users.set(user_id, doc)
        return doc

    async def _maybe_rehash(self, doc: dict[str, Any], password: str) -> None:
        if not self.store.passwords.needs_rehash(doc["password_hash"]):
            return
        try:
            await self.store.set_password(doc["id"], password)
            self.forget(doc["id"])
        except Exception as exc:  # an old-parameter hash still works; try again next sign-in
            log.warning("password_rehash_failed", user_id=doc["id"], error=str(exc))

    async def _single_flight(self, key: Hashable, start: Callable[[], Awaitable[T]]) -> T:
        """Run ``start()`` once for all concurrent callers with the same key."""
        task = self._inflight.get(key)
        if task is None:

            async def run() -> T:
                return await start()

            task = asyncio.ensure_future(run())
            self._inflight[key] = task

            def done(t: asyncio.Task[Any]) -> None:
                if self._inflight.get(key) is t:
                    del self._inflight[key]
                if not t.cancelled():
                    t.exception()  # retrieved here so an abandoned failure is not reported

            task.add_done_callback(done)
        # shield: one caller going away (a closed connection) must not cancel the others' lookup
        result: T = await asyncio.shield(task)
        return result


def _parse_basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationFailed("Basic credentials must be base64 of 'user:password'") from exc
    user_id, sep, password = decoded.partition(":")
    if not sep or not user_id:
        raise AuthenticationFailed("Basic credentials must be base64 of 'user:password'")
    return user_id, password
