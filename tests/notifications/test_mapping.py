"""The pure rules of notifications: which router events become which notifications
(notifications.mapping), and who sees which live topic (notifications.audience)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from notifications import mapping
from notifications.audience import live_filter
from notifications.events import EventKind
from notifications.live import LiveEvent
from sync_gateway.auth.authenticate import Principal

ORDER = {"_id": "order:o-9", "rep_id": "alice", "account_id": "account:a1", "total": "12.50"}


@pytest.mark.parametrize(
    ("fields", "kind", "data"),
    [
        ({"status": "confirmed"}, EventKind.ORDER_CONFIRMED, {"status": "confirmed"}),
        ({"status": "shipped"}, EventKind.ORDER_SHIPPED, {"status": "shipped"}),
        (
            {"status": "rejected", "rejection_reason": "out of stock"},
            EventKind.ORDER_REJECTED,
            {"reason": "out of stock"},
        ),
        ({"status": "rejected"}, EventKind.ORDER_REJECTED, {"reason": "no reason given"}),
        ({"status": "submitted"}, None, {}),
        ({"status": "invoiced"}, None, {}),
        ({"status": "confirmed", "rep_id": "carol"}, None, {}),  # not the recipient's order
    ],
)
def test_order_events(fields: dict[str, Any], kind: EventKind | None, data: dict[str, str]) -> None:
    event = mapping.order_event("alice", {**ORDER, **fields})
    if kind is None:
        assert event is None
        return
    assert event is not None and event.kind is kind and event.user_id == "alice"
    assert event.data["order_id"] == "order:o-9" and event.data["total"] == "12.50"
    assert data.items() <= event.data.items()
    assert event.dedupe_key == f"{kind.value}:order:o-9"  # once per order and status


@pytest.mark.parametrize(
    ("updated_at", "told"),
    [
        ("2024-05-02T07:00:00.000Z", True),
        ("2024-05-01T08:00:00.001Z", True),
        ("2024-05-01T07:59:59.999Z", False),  # older than a day: history, not news
        (None, False),
    ],
)
def test_old_order_revisions_are_not_news(updated_at: str | None, told: bool) -> None:
    now = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    doc = {**ORDER, "status": "confirmed", "updated_at": updated_at}
    assert (mapping.order_event("alice", doc, now) is not None) is told
    assert mapping.order_event("alice", doc) is not None  # without a clock: no age check


def row(doc_id: str, rev: str, doc: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": doc_id, "key": doc_id, "value": {"rev": rev}, "doc": doc}


VISIT = {"account_id": "account:a1", "status": "planned", "scheduled_start": "2024-05-02T08:00"}
ROWS = [
    row("visit:v1", "1-a", {"_id": "visit:v1", **VISIT}),
    row("visit:v2", "2-b", {"_id": "visit:v2", **VISIT, "status": "done"}),
    row("work_order:w1", "1-c", {"_id": "work_order:w1", "problem": "Leaks", "status": "open"}),
    row("territory:north", "3-d", {"_id": "territory:north", "name": "North"}),
    row("visit_note:n1", "1-e", {"_id": "visit_note:n1"}),  # not an assignment
    row("visit:gone", "4-f", None),  # deleted meanwhile
]


def test_gained_assignments() -> None:
    events = mapping.assignment_events(True, "bob", ROWS, {"account:a1": "Cafe Nord"})
    assert [(e.kind, e.data["doc_id"], e.dedupe_key) for e in events] == [
        (EventKind.VISIT_ASSIGNED, "visit:v1", "visit_assigned:visit:v1:1-a"),
        (EventKind.WORK_ORDER_ASSIGNED, "work_order:w1", "work_order_assigned:work_order:w1:1-c"),
        (EventKind.TERRITORY_GAINED, "territory:north", "territory_gained:territory:north:3-d"),
    ]
    assert events[0].data["account"] == "Cafe Nord"
    assert events[1].data["problem"] == "Leaks" and events[2].data["territory_name"] == "North"


def test_lost_assignments_include_finished_and_deleted_documents() -> None:
    events = mapping.assignment_events(False, "bob", ROWS)
    assert [(e.kind, e.data["doc_id"]) for e in events] == [
        (EventKind.VISIT_UNASSIGNED, "visit:v1"),
        (EventKind.VISIT_UNASSIGNED, "visit:v2"),
        (EventKind.WORK_ORDER_UNASSIGNED, "work_order:w1"),
        (EventKind.TERRITORY_LOST, "territory:north"),
        (EventKind.VISIT_UNASSIGNED, "visit:gone"),
    ]
    assert events[-1].data["account"] == "visit:gone"


TOPICS = ["order", "assignment", "sync", "device_stale", "something_new"]


@pytest.mark.parametrize(
    ("role", "seen"),
    [
        ("admin", set(TOPICS)),
        ("backoffice", {"order"}),
        ("manager", {"assignment", "sync", "device_stale"}),
        ("rep", set()),
    ],
)
def test_live_filter_by_role(role: str, seen: set[str]) -> None:
    accept = live_filter(Principal(user_id="u1", role=role, name="U"))
    assert {t for t in TOPICS if accept(LiveEvent("1-1", t, {}))} == seen
    # an event addressed to other users is never seen, whatever the role
    assert not accept(LiveEvent("1-2", "order", {}, frozenset({"u2"})))
