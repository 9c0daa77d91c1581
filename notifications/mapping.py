"""Pure: what the router and the resolver report → notification events and live data.

    router "order_changed"      {"user_id", "doc"}      status confirmed / rejected / shipped
                                                        reached the rep → ORDER_<STATUS>, once
                                                        per status (dedupe key); revisions older
                                                        than :data:`ORDER_MAX_AGE` are history
    router "assignment_gained"  {"user_id", "doc_ids"}  visit / work order / territory →
    router "assignment_lost"                            *_ASSIGNED / TERRITORY_GAINED,
                                                        *_UNASSIGNED / TERRITORY_LOST, once per
                                                        (document, revision)
    resolver conflict_record    {"user_ids", ...}       CONFLICT_OVERRIDDEN to each user whose
                                                        change lost (push only: the resolver
                                                        wrote the document)

No I/O: callers read the documents (``_all_docs`` rows with ``include_docs``) and pass them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from mobile_schema import doc_type_of, format_timestamp

from .events import Event, EventKind

ORDER_KINDS = {
    "confirmed": EventKind.ORDER_CONFIRMED,
    "rejected": EventKind.ORDER_REJECTED,
    "shipped": EventKind.ORDER_SHIPPED,
}
GAINED = {
    "visit": EventKind.VISIT_ASSIGNED,
    "work_order": EventKind.WORK_ORDER_ASSIGNED,
    "territory": EventKind.TERRITORY_GAINED,
}
LOST = {
    "visit": EventKind.VISIT_UNASSIGNED,
    "work_order": EventKind.WORK_ORDER_UNASSIGNED,
    "territory": EventKind.TERRITORY_LOST,
}
# Gaining a finished visit or work order (history moved over) is nothing to act on.
FINISHED = frozenset({"done", "cancelled"})
ORDER_MAX_AGE = timedelta(days=1)


def order_event(user_id: str, doc: dict[str, Any], now: datetime | None = None) -> Event | None:
    """The rep's notification for an order revision, or None when its status tells nothing or,
    given ``now``, the revision is older than :data:`ORDER_MAX_AGE` (a router catching up on
    a history, e.g. its first start on an existing deployment, must not replay old news)."""
    kind = ORDER_KINDS.get(str(doc.get("status")))
    if kind is None or doc.get("rep_id") != user_id:
        return None
    if now is not None and str(doc.get("updated_at") or "") < format_timestamp(now - ORDER_MAX_AGE):
        return None
    order_id = str(doc.get("_id", "?"))
    data = {
        "order_id": order_id,
        "account_id": str(doc.get("account_id", "")),
        "status": str(doc["status"]),
    }
    if doc.get("total") is not None:
        data["total"] = f"{doc['total']} {doc.get('currency', '')}".strip()
    if kind is EventKind.ORDER_REJECTED:
        data["reason"] = str(doc.get("rejection_reason") or "no reason given")
    return Event(kind, user_id, data=data, dedupe_key=f"{kind.value}:{order_id}")


def assignment_events(
    gained: bool,
    user_id: str,
    rows: Iterable[dict[str, Any]],
    account_names: dict[str, str] | None = None,
) -> list[Event]:
    """Notifications for ``_all_docs`` rows (``include_docs``) of documents gained / lost."""
    names = account_names or {}
    kinds = GAINED if gained else LOST
    events = []
    for row in rows:
        doc_id = str(row.get("id") or row.get("key") or "")
        kind = kinds.get(doc_type_of(doc_id) or "")
        if kind is None:
            continue
        doc: dict[str, Any] = row.get("doc") or {}
        rev = str((row.get("value") or {}).get("rev", ""))
        if gained and (not doc or doc.get("status") in FINISHED):
            continue
        account_id = str(doc.get("account_id", ""))
        data = {"doc_id": doc_id, "account_id": account_id}
        data["account"] = names.get(account_id) or account_id or doc_id
        if doc_type_of(doc_id) == "visit":
            data["visit_id"] = doc_id
            data["scheduled_start"] = str(doc.get("scheduled_start") or "no time set")
        elif doc_type_of(doc_id) == "work_order":
            data["work_order_id"] = doc_id
            data["problem"] = str(doc.get("problem") or doc_id)
            data["priority"] = str(doc.get("priority", ""))
        else:
            data["territory_id"] = doc_id
            data["territory_name"] = str(doc.get("name") or doc_id.split(":", 1)[-1])
        events.append(Event(kind, user_id, data=data, dedupe_key=f"{kind.value}:{doc_id}:{rev}"))
    return events


def overridden_events(record: dict[str, Any]) -> list[Event]:
    """A push (no document) to every user of a ``conflict_record`` whose change was overridden;
    the record id is the dedupe key, so a resolver reporting it twice makes one entry."""
    overridden = record.get("overridden") or []
    first = overridden[0] if overridden else {}
    return [
        Event(
            kind=EventKind.CONFLICT_OVERRIDDEN,
            user_id=user_id,
            data={
                "doc_id": str(record.get("doc_id", "")),
                "what": str(first.get("what", "a change")),
                "by": str(first.get("by", "someone")),
                "conflict_record": str(record.get("_id", "")),
            },
            dedupe_key=str(record.get("_id")),
            with_document=False,
        )
        for user_id in record.get("user_ids") or []
    ]


def order_live_data(row: dict[str, Any]) -> dict[str, Any]:
    """The ``order`` live event of one fs_orders change row (``include_docs``)."""
    doc = row.get("doc") or {}
    return {
        "order_id": row.get("id"),
        "rev": (row.get("changes") or [{}])[0].get("rev"),
        "deleted": bool(row.get("deleted")),
        **{
            k: doc.get(k)
            for k in ("status", "rep_id", "account_id", "total", "currency", "updated_at")
            if k in doc
        },
    }


def device_sync_data(row: dict[str, Any]) -> dict[str, Any] | None:
    """The ``sync`` live event of one ops-db change row: a device document with a pull or push
    time, else None (users, outbox entries, leases and deleted devices say nothing)."""
    doc = row.get("doc") or {}
    if doc.get("type") != "device" or row.get("deleted"):
        return None
    if not (doc.get("last_pull") or doc.get("last_push")):
        return None
    return {k: doc.get(k) for k in ("user_id", "device_id", "platform", "last_pull", "last_push")}
