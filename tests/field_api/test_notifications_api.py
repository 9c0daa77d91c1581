"""GET /api/v1/notifications against a running service, and the pure rules of field_api.notify:
which router events become which notifications, and who sees which live topic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from api_world import USERS, as_admin, assert_problem
from polling import wait_until
from support.world import World, add_user, login

from field_api import notify
from mobile_schema import format_timestamp
from notifications.events import Event, EventKind
from notifications.live import LiveEvent
from notifications.outbox import build_entry
from sync_gateway.auth.authenticate import Principal
from sync_gateway.hub import ChangeHub


@pytest.fixture
async def office(service_factory: Any) -> World:
    """The service with workers (the notifier, log sender: no credentials) and the API users."""
    service = await service_factory(notify_dispatch_s=0.2)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in USERS:
        await add_user(world, user_id, role)
    return world


def confirmed(user: str, order: str) -> Event:
    return Event(EventKind.ORDER_CONFIRMED, user, data={"order_id": order}, dedupe_key=f"c:{order}")


async def test_entries_sent_to_the_log_are_listed_newest_first_and_filtered(office: World) -> None:
    notifier = office.service.runtime.extras["notifier"]
    assert notifier.sender.name == "log"  # no credentials: push disabled
    ids = await notifier.enqueue([confirmed("alice", "order:o-1"), confirmed("bob", "order:o-2")])
    dead = build_entry(confirmed("carol", "order:o-3"), datetime.now(UTC), "dead1", False)
    dead.update(state="dead", attempts=8, last_error="UNAVAILABLE: fake")
    dead["updated_at"] = format_timestamp(datetime(2030, 1, 1, tzinfo=UTC))
    await office.couch.put(office.dbs.ops, dead)

    async with as_admin(office) as http:

        async def both_sent() -> list[dict[str, Any]] | None:
            resp = await http.get("/api/v1/notifications", params={"status": "sent"})
            assert resp.status_code == 200, resp.text
            items: list[dict[str, Any]] = resp.json()["items"]
            return items if len(items) == 2 else None

        sent = await wait_until(both_sent, timeout=30, message="both entries sent")
        assert {i["id"] for i in sent} == set(ids)
        assert {i["sender"] for i in sent} == {"log"} and all(i["attempts"] == 1 for i in sent)
        alice = (await http.get("/api/v1/notifications", params={"user_id": "alice"})).json()
        assert [(i["user_id"], i["kind"], i["title"]) for i in alice["items"]] == [
            ("alice", "order_confirmed", "Order confirmed")
        ]
        everything = (await http.get("/api/v1/notifications")).json()["items"]
        assert everything[0]["id"] == "outbox:dead1"  # the most recently changed first
        assert len(everything) == 3
        dead_items = (await http.get("/api/v1/notifications?status=dead")).json()["items"]
        assert [(i["user_id"], i["last_error"]) for i in dead_items] == [
            ("carol", "UNAVAILABLE: fake")
        ]
        one = (await http.get("/api/v1/notifications", params={"limit": 1})).json()["items"]
        assert len(one) == 1
        none = await http.get("/api/v1/notifications", params={"user_id": "bob", "status": "dead"})
        assert none.json()["items"] == []
        assert_problem(await http.get("/api/v1/notifications?status=lost"), 422, "status")
        assert_problem(await http.get("/api/v1/notifications?limit=0"), 422, "limit")
    # the notification document is in the rep's database as well
    doc = await office.couch.get(office.dbs.rep("alice"), alice["items"][0]["notification_id"])
    assert doc["type"] == "notification" and doc["kind"] == "order_confirmed"


@pytest.mark.parametrize(("user", "status"), [("max", 200), ("olga", 200), ("alice", 403)])
async def test_who_may_list_notifications(office: World, user: str, status: int) -> None:
    async with office.http(user) as http:
        resp = await http.get("/api/v1/notifications")
    assert resp.status_code == status, resp.text


async def test_without_workers_the_listing_works_and_events_are_unavailable(
    service_factory: Any,
) -> None:
    service = await service_factory(run_workers=False)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    async with as_admin(world) as http:
        assert (await http.get("/api/v1/notifications")).json() == {"items": []}
        assert_problem(await http.get("/api/v1/events"), 503, "workers")


# -- pure rules ----------------------------------------------------------------------------------

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
    event = notify.order_event("alice", {**ORDER, **fields})
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
    assert (notify.order_event("alice", doc, now) is not None) is told
    assert notify.order_event("alice", doc) is not None  # without a clock: no age check


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
    events = notify.assignment_events(True, "bob", ROWS, {"account:a1": "Cafe Nord"})
    assert [(e.kind, e.data["doc_id"], e.dedupe_key) for e in events] == [
        (EventKind.VISIT_ASSIGNED, "visit:v1", "visit_assigned:visit:v1:1-a"),
        (EventKind.WORK_ORDER_ASSIGNED, "work_order:w1", "work_order_assigned:work_order:w1:1-c"),
        (EventKind.TERRITORY_GAINED, "territory:north", "territory_gained:territory:north:3-d"),
    ]
    assert events[0].data["account"] == "Cafe Nord"
    assert events[1].data["problem"] == "Leaks" and events[2].data["territory_name"] == "North"


def test_lost_assignments_include_finished_and_deleted_documents() -> None:
    events = notify.assignment_events(False, "bob", ROWS)
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
    accept = notify.live_filter(Principal(user_id="u1", role=role, name="U"))
    assert {t for t in TOPICS if accept(LiveEvent("1-1", t, {}))} == seen
    # an event addressed to other users is never seen, whatever the role
    assert not accept(LiveEvent("1-2", "order", {}, frozenset({"u2"})))


async def test_live_feed_open_follows_the_change_hubs_subscribers(couch: Any, dbs: Any) -> None:
    db = dbs.rep("alice")
    await couch.create_db(db)
    hub = ChangeHub(couch)
    try:
        assert not notify.live_feed_open(hub, db)
        async with hub.subscribe(db):
            assert notify.live_feed_open(hub, db)
            assert not notify.live_feed_open(hub, dbs.rep("bob"))
        assert not notify.live_feed_open(hub, db)  # the watch lingers, with nobody waiting
    finally:
        await hub.stop()
