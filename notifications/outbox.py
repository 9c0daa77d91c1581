"""The durable notification outbox: ``outbox:<id>`` documents in the ops database.

outbox entry::

    {"_id": "outbox:<id>", "type": "outbox", "user_id": "alice", "kind": "order_confirmed",
     "dedupe_key": "order_confirmed:order:o-17" | null,
     "message": {"title", "body", "data": {str: str}, "collapse_key": str | null,
                 "data_only": bool},
     "notification_id": "notification:<id>" | null,
     "state": "pending" | "sending" | "sent" | "failed" | "dead",
     "attempts": 0, "next_attempt_at": ts, "claimed_by": str | null, "claim_expires_at": ts | null,
     "done_tokens": [fcm tokens already delivered or given up], "last_error": str | null,
     "sent_at": ts | null, "created_at": ts, "updated_at": ts}

States::

    pending ──claim──> sending ──> sent
       ^                  │   └──> failed ──(next_attempt_at)──claim──> sending ...
       └──────────────────┘              └──(attempts >= limit)──> dead

``<id>`` is derived from the recipient and the event's ``dedupe_key`` (a hash), so enqueuing
the same occurrence for the same user twice is one entry; the user's ``notification:<id>``
document shares it.

Order of writes in :meth:`Outbox.enqueue`: first the notification documents (one
``_bulk_docs`` per user database; a user without a database — a manager — gets none), then the
outbox entries (one ``_bulk_docs``). Both are idempotent, so a caller that crashed before
``enqueue`` returned simply enqueues again (the router and the API checkpoint only after it
returns). Nothing is pushed before the entry exists.

Every change of state is a write with the entry's ``_rev``: a 409 means another dispatcher
changed it first, and this one leaves it alone. Due entries are found through the view
``_design/notifications/_view/attention`` (key: when the entry next needs attention —
``next_attempt_at`` for pending / failed, ``claim_expires_at`` for sending), which CouchDB 3 and
PouchDB Server both serve; a query is bounded by ``limit``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from mobile_schema import Notification, format_timestamp, to_json_dict

from .events import Event, render
from .store import DocStore, ensure_design, is_not_found, view

log = structlog.get_logger(__name__)

DESIGN_ID = "_design/notifications"
SYSTEM_USER = "fieldsync"
ACTIVE_STATES = ("pending", "failed", "sending")
FINAL_STATES = ("sent", "dead")

VIEWS = {
    "attention": """function (doc) {
  if (doc.type !== 'outbox') return;
  if (doc.state === 'pending' || doc.state === 'failed') emit(doc.next_attempt_at, null);
  else if (doc.state === 'sending') emit(doc.claim_expires_at, null);
}""",
    "finished": """function (doc) {
  if (doc.type === 'outbox' && (doc.state === 'sent' || doc.state === 'dead'))
    emit([doc.state, doc.updated_at], null);
}""",
}


def entry_local_id(event: Event) -> str:
    """The ``<id>`` shared by the outbox entry and the notification: stable per recipient and
    dedupe key (one occurrence told to several managers is one entry each)."""
    if event.dedupe_key:
        return hashlib.sha256(f"{event.user_id}\n{event.dedupe_key}".encode()).hexdigest()[:32]
    return uuid.uuid4().hex


def build_entry(event: Event, now: datetime, local_id: str, with_document: bool) -> dict[str, Any]:
    title, body, data = render(event)
    ts = format_timestamp(now)
    return {
        "_id": f"outbox:{local_id}",
        "type": "outbox",
        "user_id": event.user_id,
        "kind": event.kind.value,
        "dedupe_key": event.dedupe_key,
        "message": {
            "title": title,
            "body": body,
            "data": data,
            "collapse_key": event.collapse_key,
            "data_only": event.data_only,
        },
        "notification_id": f"notification:{local_id}" if with_document else None,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": ts,
        "claimed_by": None,
        "claim_expires_at": None,
        "done_tokens": [],
        "last_error": None,
        "sent_at": None,
        "created_at": ts,
        "updated_at": ts,
    }


def build_notification(event: Event, now: datetime, local_id: str) -> dict[str, Any]:
    """The user's ``notification`` document, validated against mobile_schema."""
    title, body, data = render(event)
    ts = format_timestamp(now)
    doc = {
        "_id": f"notification:{local_id}",
        "type": "notification",
        "schema_version": 1,
        "updated_at": ts,
        "updated_by": SYSTEM_USER,
        "user_id": event.user_id,
        "kind": event.kind.value,
        "title": title,
        "body": body,
        "data": data,
        "read": False,
        "created_at": ts,
    }
    return to_json_dict(Notification.model_validate(doc))


def is_due(entry: dict[str, Any], now: datetime) -> bool:
    """Whether an entry needs attention at ``now`` (the rule the ``attention`` view indexes)."""
    ts = format_timestamp(now)
    state = entry.get("state")
    if state in ("pending", "failed"):
        return str(entry.get("next_attempt_at") or "") <= ts
    if state == "sending":
        return str(entry.get("claim_expires_at") or "") <= ts
    return False


class Outbox:
    """The outbox entries in ``ops_db`` and the notification documents in users' databases."""

    def __init__(self, store: DocStore, ops_db: str, rep_db_for: Callable[[str], str]) -> None:
        self.store = store
        self.ops_db = ops_db
        self.rep_db_for = rep_db_for

    async def setup(self) -> None:
        """Install the outbox views (idempotent; call once at start-up)."""
        await ensure_design(self.store, self.ops_db, DESIGN_ID, VIEWS)

    async def enqueue(self, events: Iterable[Event], now: datetime) -> list[str]:
        """Write the notifications and outbox entries of ``events``; return the entry ids."""
        entries: dict[str, dict[str, Any]] = {}
        docs_by_db: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            local_id = entry_local_id(event)
            if f"outbox:{local_id}" in entries:
                continue
            rep_db = (
                None if event.data_only or not event.with_document else self._rep_db(event.user_id)
            )
            if rep_db is not None:
                docs_by_db[rep_db].append(build_notification(event, now, local_id))
            entry = build_entry(event, now, local_id, rep_db is not None)
            entries[entry["_id"]] = entry
        for rep_db, docs in docs_by_db.items():
            if not await self._write_documents(rep_db, docs):
                for doc in docs:
                    entries["outbox:" + doc["_id"].split(":", 1)[1]]["notification_id"] = None
        if entries:
            # A conflict row means the same occurrence is already queued: nothing to do.
            await self.store.bulk_docs(self.ops_db, list(entries.values()))
        return list(entries)

    def _rep_db(self, user_id: str) -> str | None:
        try:
            return self.rep_db_for(user_id)
        except ValueError:
            return None

    async def _write_documents(self, rep_db: str, docs: list[dict[str, Any]]) -> bool:
        try:
            await self.store.bulk_docs(rep_db, docs)
        except Exception as exc:
            if is_not_found(exc):  # not a field user (or not provisioned yet): push only
                log.info("notification_no_user_db", db=rep_db, count=len(docs))
                return False
            raise
        return True

    async def get(self, entry_id: str) -> dict[str, Any]:
        return await self.store.get(self.ops_db, entry_id)

    async def due(self, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """Entries that need attention at ``now``: due pending / failed, expired ``sending``."""
        rows = await view(
            self.store,
            self.ops_db,
            "notifications",
            "attention",
            endkey=format_timestamp(now),
            limit=limit,
            include_docs=True,
        )
        # The index may lag behind the documents it includes (PouchDB Server does, under
        # concurrent writes), so the document itself must still be due: a row can name an
        # entry that another dispatcher has meanwhile claimed or sent.
        return [row["doc"] for row in rows if row.get("doc") and is_due(row["doc"], now)]

    async def write(self, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write changed entries with their ``_rev``; return those stored, with the new rev.

        An entry another dispatcher changed first (a conflict row) is left out.
        """
        if not docs:
            return []
        results = await self.store.bulk_docs(self.ops_db, docs)
        # Matched by id, not position: the ids in one write are distinct, and an answer out of
        # order would otherwise pair an entry with another's revision.
        by_id = {result.get("id"): result for result in results}
        stored: list[dict[str, Any]] = []
        for doc in docs:
            result = by_id.get(doc["_id"], {})
            if "rev" in result and "error" not in result:
                stored.append({**doc, "_rev": result["rev"]})
            else:
                log.info("outbox_write_skipped", id=doc["_id"], error=result.get("error"))
        return stored

    async def housekeeping(
        self,
        now: datetime,
        *,
        keep_sent: timedelta = timedelta(days=7),
        keep_dead: timedelta = timedelta(days=30),
        limit: int = 500,
    ) -> int:
        """Delete sent entries older than ``keep_sent`` and dead ones older than ``keep_dead``."""
        deleted = 0
        for state, keep in (("sent", keep_sent), ("dead", keep_dead)):
            rows = await view(
                self.store,
                self.ops_db,
                "notifications",
                "finished",
                startkey=[state, ""],
                endkey=[state, format_timestamp(now - keep)],
                limit=limit,
                include_docs=True,
            )
            tombstones = [
                {"_id": row["id"], "_rev": row["doc"]["_rev"], "_deleted": True}
                for row in rows
                if row.get("doc")
            ]
            deleted += len(await self.write(tombstones))
        return deleted
