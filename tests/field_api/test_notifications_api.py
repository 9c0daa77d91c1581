"""GET /api/v1/notifications against a running service, and the notifier's view of the change
hub (the pure rules of which event becomes which notification are in tests/notifications/
test_mapping.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from api_world import USERS, as_admin, assert_problem
from polling import wait_until
from support.world import World, add_user, login

from mobile_schema import format_timestamp
from notifications.events import Event, EventKind
from notifications.notifier import live_feed_open
from notifications.outbox import build_entry
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
    notifier = office.service.services.workers.notifier
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


async def test_live_feed_open_follows_the_change_hubs_subscribers(couch: Any, dbs: Any) -> None:
    db = dbs.rep("alice")
    await couch.create_db(db)
    hub = ChangeHub(couch)
    try:
        assert not live_feed_open(hub, db)
        async with hub.subscribe(db):
            assert live_feed_open(hub, db)
            assert not live_feed_open(hub, dbs.rep("bob"))
        assert not live_feed_open(hub, db)  # the watch lingers, with nobody waiting
    finally:
        await hub.stop()
