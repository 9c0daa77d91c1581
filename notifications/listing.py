"""The outbox as support sees it (``GET /api/v1/notifications``): entries most recently changed
first, filtered by recipient and state.

The ``_design/notify_api`` view indexes each ``outbox`` entry four times,
``[user or "", state or "", updated_at]``, so every combination of the two filters is one
descending range read. :func:`ensure_listing_view` installs it (idempotent, safe to race).
"""

from __future__ import annotations

from typing import Any

from .store import HIGH, DocStore, ensure_design, view

LISTING_DDOC = "_design/notify_api"
LISTING_VIEWS = {
    "listing": """function (doc) {
  if (doc.type !== 'outbox') return;
  var users = ['', doc.user_id], states = ['', doc.state];
  for (var u = 0; u < 2; u++) for (var s = 0; s < 2; s++)
    emit([users[u], states[s], doc.updated_at], null);
}"""
}
ENTRY_FIELDS = (
    "user_id",
    "kind",
    "state",
    "attempts",
    "last_error",
    "delivered",
    "sender",
    "notification_id",
    "dedupe_key",
    "created_at",
    "updated_at",
    "next_attempt_at",
    "sent_at",
)


def entry_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What support sees of an outbox entry: recipient, message, state, attempts, error."""
    message = doc.get("message") or {}
    out: dict[str, Any] = {"id": doc["_id"], **{k: doc.get(k) for k in ENTRY_FIELDS}}
    out.update(
        title=message.get("title"),
        body=message.get("body"),
        data_only=bool(message.get("data_only")),
        devices_done=len(doc.get("done_tokens") or []),
    )
    return out


async def ensure_listing_view(store: DocStore, ops_db: str) -> None:
    await ensure_design(store, ops_db, LISTING_DDOC, LISTING_VIEWS)


async def list_outbox(
    store: DocStore, ops_db: str, *, user_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """Outbox entries, most recently changed first (the view must be installed)."""
    key = [user_id or "", status or ""]
    rows = await view(
        store,
        ops_db,
        "notify_api",
        "listing",
        startkey=[*key, HIGH],
        endkey=key,
        descending=True,
        limit=limit,
        include_docs=True,
    )
    return [entry_view(row["doc"]) for row in rows if row.get("doc")]
