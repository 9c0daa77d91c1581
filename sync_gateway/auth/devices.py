"""Device documents in the ops database: a user's phones, tablets and PDAs.

    {"_id": "device:<user id>:<device id>", "type": "device", "user_id": "ana",
     "device_id": "3f2a-...", "platform": "android" | "ios" | "web" | "pda" | "other",
     "fcm_token": "<FCM registration token>" | null, "fcm_token_updated_at": "<ts>" | null,
     "user_agent": "PouchDB/9.0" | null, "last_pull": "<ts>" | null, "last_push": "<ts>" | null,
     "created_at": "<ts>", "updated_at": "<ts>"}

Timestamps are the document format (UTC, milliseconds, ``Z``), so they compare as strings.
Device ids follow :data:`DEVICE_ID_RE` wherever they come from (the app's registration or the
``X-Device-Id`` header on ``/sync``); a user has at most :data:`MAX_DEVICES_PER_USER` device
documents (registration beyond it is refused; activity of a further device is not recorded).
The user agent is stored cleaned (:func:`clean_user_agent`: printable ASCII without HTML
characters, 300 at most), so no device-supplied string reaches a view raw.
``register`` is called by the app (``POST /api/v1/me/devices``); ``record_activity`` by the
gateway's activity flusher, many devices in one ``_all_docs`` + one ``_bulk_docs``. Both upsert
and settle concurrent writes by retrying on CouchDB's 409.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog

from mobile_schema import utc_now

from ..couch import CouchClient, update_many_with_retry, update_with_retry
from ..databases import Databases
from .errors import InvalidInput

log = structlog.get_logger(__name__)

PLATFORMS = ("android", "ios", "web", "pda", "other")
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
MAX_FCM_TOKEN = 4096
MAX_DEVICES_PER_USER = 20
DEVICE_ID_RULE = "device ids are 1-128 characters of letters, digits and . _ : @ -"
_UNSAFE_AGENT = re.compile(r"[^\x20-\x7e]|[<>\"'&\\`]")
MAX_RETRIES = 10
ACTIVITY_FIELDS = ("last_pull", "last_push", "user_agent")
PUBLIC_FIELDS = (
    "user_id",
    "device_id",
    "platform",
    "fcm_token",
    "fcm_token_updated_at",
    "user_agent",
    "last_pull",
    "last_push",
    "created_at",
    "updated_at",
)

DeviceKey = tuple[str, str]


def device_doc_id(user_id: str, device_id: str) -> str:
    return f"device:{user_id}:{device_id}"


def public_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {key: doc.get(key) for key in PUBLIC_FIELDS}


def new_device(user_id: str, device_id: str, platform: str = "other") -> dict[str, Any]:
    now = utc_now()
    return {
        "_id": device_doc_id(user_id, device_id),
        "type": "device",
        "user_id": user_id,
        "device_id": device_id,
        "platform": platform,
        "fcm_token": None,
        "fcm_token_updated_at": None,
        "user_agent": None,
        "last_pull": None,
        "last_push": None,
        "created_at": now,
        "updated_at": now,
    }


def clean_user_agent(value: str | None) -> str | None:
    """A User-Agent fit to show anywhere: printable ASCII without ``< > " ' & \\ ` ``."""
    if not value:
        return None
    cleaned = _UNSAFE_AGENT.sub("", value)[:300].strip()
    return cleaned or None


def apply_activity(doc: dict[str, Any], update: Mapping[str, Any]) -> bool:
    """Fold one activity update into a device document; True when something changed.

    Times only move forward, so a late flush of an older batch never turns a clock back.
    """
    changed = False
    for key in ("last_pull", "last_push"):
        value = update.get(key)
        if value and (doc.get(key) is None or value > doc[key]):
            doc[key] = value
            changed = True
    agent = clean_user_agent(update.get("user_agent"))
    if agent and agent != doc.get("user_agent"):
        doc["user_agent"] = agent
        changed = True
    return changed


class DeviceStore:
    def __init__(self, couch: CouchClient, dbs: Databases) -> None:
        self.couch = couch
        self.dbs = dbs

    async def register(
        self,
        user_id: str,
        device_id: str,
        platform: str,
        fcm_token: str | None,
        *,
        user_agent: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create or update a device; (document, True when it was created)."""
        if not DEVICE_ID_RE.match(device_id):
            raise InvalidInput(f"device_id is not valid: {DEVICE_ID_RULE}")
        if platform not in PLATFORMS:
            raise InvalidInput(f"platform {platform!r} is not one of {', '.join(PLATFORMS)}")
        if fcm_token is not None and not (0 < len(fcm_token) <= MAX_FCM_TOKEN):
            raise InvalidInput(f"fcm_token must be 1-{MAX_FCM_TOKEN} characters, or null")
        doc_id = device_doc_id(user_id, device_id)

        async def upsert(existing: dict[str, Any] | None) -> dict[str, Any]:
            if existing is None and await self.count(user_id) >= MAX_DEVICES_PER_USER:
                raise InvalidInput(
                    f"you have {MAX_DEVICES_PER_USER} devices registered, the most allowed; "
                    "remove one (DELETE /api/v1/me/devices/{device_id}) first"
                )
            doc = existing or new_device(user_id, device_id, platform)
            doc["platform"] = platform
            if fcm_token != doc.get("fcm_token"):
                doc["fcm_token"] = fcm_token
                doc["fcm_token_updated_at"] = utc_now()
            agent = clean_user_agent(user_agent)
            if agent:
                doc["user_agent"] = agent
            doc["updated_at"] = utc_now()
            return doc

        updated = await update_with_retry(
            self.couch, self.dbs.ops, doc_id, upsert, attempts=MAX_RETRIES
        )
        assert updated.doc is not None  # upsert always writes
        log.info("device_registered", user_id=user_id, device_id=device_id, new=updated.created)
        return updated.doc, updated.created

    async def get_device(self, user_id: str, device_id: str) -> dict[str, Any] | None:
        return await self.couch.get_or_none(self.dbs.ops, device_doc_id(user_id, device_id))

    async def list_devices(self, user_id: str) -> list[dict[str, Any]]:
        """The user's devices, ordered by device id."""
        prefix = f"device:{user_id}:"
        result = await self.couch.all_docs(
            self.dbs.ops, startkey=prefix, endkey=prefix + "\ufff0", include_docs=True
        )
        return [row["doc"] for row in result["rows"] if row.get("doc")]

    async def count(self, user_id: str) -> int:
        """How many device documents the user has."""
        prefix = f"device:{user_id}:"
        result = await self.couch.all_docs(self.dbs.ops, startkey=prefix, endkey=prefix + "\ufff0")
        return len(result["rows"])

    async def remove(self, user_id: str, device_id: str) -> bool:
        """Delete a device document; False when there was none."""

        def delete(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if doc is None else {"_deleted": True}

        updated = await update_with_retry(
            self.couch,
            self.dbs.ops,
            device_doc_id(user_id, device_id),
            delete,
            attempts=MAX_RETRIES,
        )
        if updated.written:
            log.info("device_removed", user_id=user_id, device_id=device_id)
        return updated.written

    async def clear_fcm_token(self, user_id: str, device_id: str, fcm_token: str) -> bool:
        """Forget a token FCM reported unregistered, unless the device has sent a new one since.

        Raises :class:`CouchConflictExhausted` when the device keeps writing its document."""

        def clear(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None or doc.get("fcm_token") != fcm_token:
                return None
            doc["fcm_token"] = None
            doc["fcm_token_updated_at"] = doc["updated_at"] = utc_now()
            return doc

        updated = await update_with_retry(
            self.couch,
            self.dbs.ops,
            device_doc_id(user_id, device_id),
            clear,
            attempts=MAX_RETRIES,
        )
        return updated.written

    async def record_activity(self, updates: Mapping[DeviceKey, Mapping[str, Any]]) -> int:
        """Upsert last_pull / last_push / user_agent of many devices; the number written.

        One ``_all_docs`` and one ``_bulk_docs`` per round; only documents that lost a race
        with another writer (409) go round again.
        """
        pending = {device_doc_id(u, d): (u, d, dict(v)) for (u, d), v in updates.items()}
        room: dict[str, int] = {}  # per user seen without a document: how many more fit

        async def fold(doc_id: str, doc: dict[str, Any] | None) -> dict[str, Any] | None:
            user_id, device_id, update = pending[doc_id]
            if doc is None:
                if user_id not in room:
                    room[user_id] = MAX_DEVICES_PER_USER - await self.count(user_id)
                if room[user_id] <= 0:
                    log.warning("device_cap_reached", user_id=user_id, device_id=device_id)
                    return None
                room[user_id] -= 1
                doc = new_device(user_id, device_id)
                apply_activity(doc, update)
            elif not apply_activity(doc, update):
                return None
            doc["updated_at"] = utc_now()
            return doc

        rows = await update_many_with_retry(
            self.couch, self.dbs.ops, pending, fold, attempts=MAX_RETRIES
        )
        written = sum(1 for r in rows.values() if r.get("ok") and not r.get("unchanged"))
        failed = [r for r in rows.values() if r.get("error") and r["error"] != "conflict"]
        if failed:
            log.warning("device_activity_not_written", errors=failed[:5], count=len(failed))
        lost = sum(1 for r in rows.values() if r.get("error") == "conflict")
        if lost:
            # best effort on purpose: activity is bookkeeping, and the next flush writes it
            log.warning("device_activity_gave_up", devices=lost)
        return written
