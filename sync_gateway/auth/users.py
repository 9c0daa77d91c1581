"""User documents in the ops database, and the rules for creating and changing them.

    {"_id": "user:<id>", "type": "user", "id": "<id>", "name": "Ana Rep", "role": "rep",
     "password_hash": "$argon2id$...", "time_zone": "Europe/Lisbon", "active": true,
     "tokens_valid_after": 1767225600.5 | null, "signed_out": {"<token jti>": <its exp>},
     "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}

Ids follow ``databases.USER_ID_RE`` (so ``rep_<id>`` is a legal database name) and are the user
name for signing in. Roles: rep, engineer (the field roles, each with a database ``rep_<id>``),
manager, backoffice, admin. ``tokens_valid_after`` is epoch seconds: every token issued before
it is refused; so is a token whose ``jti`` is in ``signed_out`` (a signed-out session).
``tokens_valid_after`` moves to "now" on an explicit revocation, a password change, a role change
and a deactivation: whoever held a token of the old password, role or account signs in again.
Concurrent changes are settled by CouchDB's revision check (409 → re-read, retry), and creation
by the fixed ``_id``: two creators of one user cannot both win.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from typing import Any

import structlog

from mobile_schema import FIELD_ROLES, ROLES, utc_now

from ..couch import CouchClient, CouchConflict, update_with_retry
from ..databases import USER_ID_RE, Databases
from .errors import InvalidInput, UserExists, UserNotFound
from .passwords import MIN_PASSWORD_LENGTH, Passwords

log = structlog.get_logger(__name__)

BOOTSTRAP_ADMIN_ID = "admin"
MAX_RETRIES = 10
MAX_SIGNED_OUT = 200  # signed-out tokens still unexpired, per user
PUBLIC_FIELDS = (
    "id",
    "name",
    "role",
    "time_zone",
    "active",
    "tokens_valid_after",
    "created_at",
    "updated_at",
)


def user_doc_id(user_id: str) -> str:
    return f"user:{user_id}"


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The user as the API shows it: never the password hash nor CouchDB's bookkeeping."""
    return {key: doc.get(key) for key in PUBLIC_FIELDS}


def _revoke(doc: dict[str, Any]) -> None:
    # never backwards: a clock step back must not bring revoked tokens to life again
    doc["tokens_valid_after"] = max(time.time(), float(doc.get("tokens_valid_after") or 0))


def validate_user_id(user_id: str) -> str:
    if not USER_ID_RE.match(user_id):
        raise InvalidInput(
            f"user id {user_id!r} must be 1-63 characters: a lower-case letter, then lower-case "
            "letters, digits, '_' or '-'"
        )
    return user_id


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def validate_time_zone(name: str) -> str:
    """An IANA time zone name such as ``Europe/Lisbon``."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"time zone {name!r} is not an IANA time zone name such as 'Europe/Lisbon' or 'UTC'"
        ) from exc
    return name


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


class UserStore:
    """Users in ``dbs.ops``; creating a field user also creates their database."""

    def __init__(
        self, couch: CouchClient, dbs: Databases, passwords: Passwords | None = None
    ) -> None:
        self.couch = couch
        self.dbs = dbs
        self.passwords = passwords or Passwords()

    async def create_user(
        self,
        user_id: str,
        *,
        name: str,
        role: str,
        password: str,
        time_zone: str = "UTC",
        active: bool = True,
    ) -> dict[str, Any]:
        """Create a user (UserExists when the id is taken); return the stored document."""
        validate_user_id(user_id)
        validate_role(role)
        validate_time_zone(time_zone)
        validate_password(password)
        if not name.strip():
            raise InvalidInput("name must not be empty")
        if role in FIELD_ROLES:
            # the database first: a field user document then always has its database
            await self.couch.create_db(self.dbs.rep(user_id))
        now = utc_now()
        doc: dict[str, Any] = {
            "_id": user_doc_id(user_id),
            "type": "user",
            "id": user_id,
            "name": name.strip(),
            "role": role,
            "password_hash": await self.passwords.ahash(password),
            "time_zone": time_zone,
            "active": active,
            "tokens_valid_after": None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            result = await self.couch.put(self.dbs.ops, doc)
        except CouchConflict as exc:
            raise UserExists(f"a user with id {user_id!r} already exists") from exc
        doc["_rev"] = result["rev"]
        log.info("user_created", user_id=user_id, role=role)
        return doc

    async def get_user(self, user_id: str) -> dict[str, Any] | None:
        """The user document, or None when there is no such user (or the id is not valid)."""
        if not USER_ID_RE.match(user_id):
            return None
        return await self.couch.get_or_none(self.dbs.ops, user_doc_id(user_id))

    async def require_user(self, user_id: str) -> dict[str, Any]:
        doc = await self.get_user(user_id)
        if doc is None:
            raise UserNotFound(f"there is no user {user_id!r}")
        return doc

    async def list_users(self, role: str | None = None) -> list[dict[str, Any]]:
        """Every user (optionally of one role), ordered by id."""
        result = await self.couch.all_docs(
            self.dbs.ops, startkey="user:", endkey="user:\ufff0", include_docs=True
        )
        users = [row["doc"] for row in result["rows"] if row.get("doc")]
        return [u for u in users if u.get("type") == "user" and (role is None or u["role"] == role)]

    async def set_password(self, user_id: str, password: str) -> dict[str, Any]:
        """A new password; every token issued before it is revoked."""
        validate_password(password)
        password_hash = await self.passwords.ahash(password)

        def change(doc: dict[str, Any]) -> None:
            doc["password_hash"] = password_hash
            _revoke(doc)

        return await self.update(user_id, change)

    async def revoke_tokens(self, user_id: str) -> dict[str, Any]:
        """Refuse every token issued to this user until now."""
        return await self.update(user_id, _revoke)

    async def sign_out_token(self, user_id: str, jti: str, expires_at: float) -> dict[str, Any]:
        """Refuse one token (a ``/sync`` cookie session) from now on, the user's others still
        work. Kept in ``signed_out`` ({jti: exp}) until it would have expired anyway; past
        MAX_SIGNED_OUT live entries every token is revoked instead, so the list stays small."""
        now = time.time()

        def change(doc: dict[str, Any]) -> None:
            live = {k: v for k, v in (doc.get("signed_out") or {}).items() if float(v) > now}
            live[jti] = expires_at
            if len(live) > MAX_SIGNED_OUT:
                doc["tokens_valid_after"] = now
                live = {}
            doc["signed_out"] = live

        return await self.update(user_id, change)

    async def set_active(self, user_id: str, active: bool) -> dict[str, Any]:
        """Enable or disable; disabling also revokes the tokens (enabling does not bring them
        back)."""

        def change(doc: dict[str, Any]) -> None:
            if doc.get("active", True) and not active:
                _revoke(doc)
            doc["active"] = active

        return await self.update(user_id, change)

    async def set_role(self, user_id: str, role: str) -> dict[str, Any]:
        """A new role; tokens issued before it are revoked. Becoming a field user creates
        ``rep_<id>``; a former field user's database stays (their orders are in it) but
        ``/sync`` no longer serves it to them."""
        validate_role(role)
        if role in FIELD_ROLES:
            await self.couch.create_db(self.dbs.rep(user_id))

        def change(doc: dict[str, Any]) -> None:
            if doc.get("role") != role:
                doc["role"] = role
                _revoke(doc)

        return await self.update(user_id, change)

    async def update_profile(
        self, user_id: str, *, name: str | None = None, time_zone: str | None = None
    ) -> dict[str, Any]:
        if time_zone is not None:
            validate_time_zone(time_zone)
        if name is not None and not name.strip():
            raise InvalidInput("name must not be empty")

        def change(doc: dict[str, Any]) -> None:
            if name is not None:
                doc["name"] = name.strip()
            if time_zone is not None:
                doc["time_zone"] = time_zone

        return await self.update(user_id, change)

    async def update(
        self, user_id: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Read, change, write; on a concurrent write (409) start again from the new revision
        (:class:`CouchConflictExhausted` when it keeps losing)."""
        if not USER_ID_RE.match(user_id):
            raise UserNotFound(f"there is no user {user_id!r}")

        def mutate(doc: dict[str, Any] | None) -> dict[str, Any]:
            if doc is None:
                raise UserNotFound(f"there is no user {user_id!r}")
            change(doc)
            doc["updated_at"] = utc_now()
            return doc

        updated = await update_with_retry(
            self.couch, self.dbs.ops, user_doc_id(user_id), mutate, attempts=MAX_RETRIES
        )
        assert updated.doc is not None  # mutate always writes
        return updated.doc

    async def ensure_bootstrap_admin(self, password: str) -> bool:
        """Create user ``admin`` (role admin) when no admin exists; True when this call made it.

        Idempotent, and safe when several processes start at once: the fixed id lets CouchDB's
        409 pick one creator, the others see UserExists and do nothing.
        """
        if await self.list_users(role="admin"):
            return False
        try:
            await self.create_user(
                BOOTSTRAP_ADMIN_ID, name="Administrator", role="admin", password=password
            )
        except UserExists:
            existing = await self.get_user(BOOTSTRAP_ADMIN_ID)
            if existing is not None and existing.get("role") != "admin":
                log.warning("bootstrap_admin_id_taken", role=existing.get("role"))
            return False
        log.info("bootstrap_admin_created", user_id=BOOTSTRAP_ADMIN_ID)
        return True
