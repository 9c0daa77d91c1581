"""FCM tokens of a user's devices, read from and pruned in the device documents.

device document (ops database; written by the API's ``POST /api/v1/me/devices`` and the
gateway's activity recorder)::

    {"_id": "device:<user_id>:<device_id>", "type": "device", "user_id", "device_id",
     "platform", "fcm_token": str | null, "last_pull"?: ts, "last_push"?: ts, ...}

Removing a token sets ``fcm_token`` to null (with ``fcm_token_removed_at`` and the reason) only
if the document still holds that token, so a device that re-registered a fresh token meanwhile
keeps it; the write carries the ``_rev`` and is retried once on a 409 (the store's
``update_with_retry``), then given up: the token is reported dead again on its next send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from mobile_schema import format_timestamp

from .store import DocStore, docs_with_prefix, is_conflict

REMOVE_ATTEMPTS = 2


@dataclass(frozen=True)
class DeviceToken:
    device_doc_id: str
    token: str


class TokenSource(Protocol):
    async def tokens(self, user_id: str) -> list[DeviceToken]: ...

    async def remove(self, device: DeviceToken, reason: str, now: datetime) -> bool: ...


class CouchTokenSource:
    """Device tokens in ``ops_db``."""

    def __init__(self, store: DocStore, ops_db: str) -> None:
        self.store = store
        self.ops_db = ops_db

    async def tokens(self, user_id: str) -> list[DeviceToken]:
        docs = await docs_with_prefix(self.store, self.ops_db, f"device:{user_id}:")
        seen: set[str] = set()
        out: list[DeviceToken] = []
        for doc in docs:
            token = doc.get("fcm_token")
            # Two device documents with one token (a reinstall) must not get the message twice.
            if isinstance(token, str) and token and token not in seen:
                seen.add(token)
                out.append(DeviceToken(doc["_id"], token))
        return out

    async def remove(self, device: DeviceToken, reason: str, now: datetime) -> bool:
        """Clear the token from its device document; False when it no longer held it."""

        def clear(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None or doc.get("fcm_token") != device.token:
                return None
            doc.update(
                fcm_token=None,
                fcm_token_removed_at=format_timestamp(now),
                fcm_token_removed_reason=reason,
            )
            return doc

        try:
            updated = await self.store.update_with_retry(
                self.ops_db, device.device_doc_id, clear, attempts=REMOVE_ATTEMPTS
            )
        except Exception as exc:
            if not is_conflict(exc):
                raise
            # best effort on purpose: the device keeps writing its document, and a dead token
            # left in it is reported dead again on its next send and removed then
            return False
        return updated.written
