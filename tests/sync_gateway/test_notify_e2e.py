"""Notifications end to end: the service with firebase-admin pointed at the local fake FCM.

Office actions through the API (a visit for an engineer) and a back-office decision written
into fs_orders travel: router event -> outbox entry -> firebase-admin -> fake FCM, for the
device token registered with ``POST /api/v1/me/devices``, and the ``notification`` document
reaches the user's database and a real PouchDB phone. Two service processes on the same
databases: only the lease holder runs the jobs; another takes over when it stops or dies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from polling import wait_until
from support.world import FieldUser, World, add_user, login

from mobile_schema import sample, utc_now
from notifications.events import Event, EventKind

# The fake FCM lives with the notifications tests; it is imported from there, not copied.
sys.path.append(str(Path(__file__).resolve().parents[1] / "notifications"))
from fake_fcm import FakeFcm

TIMEOUT = 60.0


@pytest.fixture
def fcm() -> Any:
    fake = FakeFcm()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def office(service_factory: Any, fcm: FakeFcm, tmp_path: Path) -> World:
    """The service pushing through firebase-admin to the fake; alice (rep), bob (engineer),
    max (manager), olga (back office), and a customer account."""
    credentials = tmp_path / "service-account.json"
    credentials.write_text(json.dumps(fcm.service_account()))
    service = await service_factory(
        google_application_credentials=credentials,
        fcm_project_id=fcm.project,
        fcm_endpoint=fcm.url,
        notify_dispatch_s=0.5,
        router_poll_s=0.5,
    )
    world = World(service, await login(service.url, "admin", "admin-pass"))
    world.users["admin"] = FieldUser("admin", "admin", "admin-pass", world.admin_token, None)
    for user_id, role in (
        ("alice", "rep"),
        ("bob", "engineer"),
        ("max", "manager"),
        ("olga", "backoffice"),
    ):
        await add_user(world, user_id, role)
    async with world.http("admin") as http:
        resp = await http.put("/api/v1/accounts", json=[{"_id": "account:a1", "name": "Cafe"}])
        assert resp.status_code == 200 and resp.json()["errors"] == 0, resp.text
    return world


async def register_device(world: World, user: str, token: str) -> None:
    async with world.http(user) as http:
        resp = await http.post(
            "/api/v1/me/devices",
            json={"device_id": f"{user}-phone", "platform": "android", "fcm_token": token},
        )
    assert resp.status_code in (200, 201), resp.text


def pushes(fcm: FakeFcm, token: str, kind: str) -> list[dict[str, Any]]:
    return [
        m["message"]
        for m in fcm.requests_for(token)
        if m["answer"] == "OK" and m["message"]["data"].get("kind") == kind
    ]


async def entries(world: World, user: str) -> list[dict[str, Any]]:
    async with world.http("max") as http:
        resp = await http.get("/api/v1/notifications", params={"user_id": user})
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def test_a_visit_assigned_to_an_engineer_is_pushed_and_reaches_the_phone(
    office: World, fcm: FakeFcm, phone: Any
) -> None:
    bob = office.users["bob"]
    await register_device(office, "bob", "tok-bob")
    async with office.http("max") as http:
        resp = await http.post(
            "/api/v1/visits",
            json={
                "assignee_id": "bob",
                "account_id": "account:a1",
                "kind": "service",
                "scheduled_start": "2030-05-02T08:00:00.000Z",
            },
        )
        assert resp.status_code == 201, resp.text
        visit_id = resp.json()["_id"]

    [message] = await wait_until(
        lambda: pushes(fcm, "tok-bob", "visit_assigned"), timeout=TIMEOUT, message="the push"
    )
    assert message["notification"] == {
        "title": "New visit",
        "body": "Visit Cafe at 2030-05-02T08:00:00.000Z",
    }
    assert message["data"]["visit_id"] == visit_id
    # bob's phone has no live feed open: it is also told, silently, to sync
    hint = (await wait_until(lambda: pushes(fcm, "tok-bob", "sync_now"), timeout=TIMEOUT))[0]
    assert "notification" not in hint and hint["android"]["collapse_key"] == "sync_now"

    async def sent_entry() -> dict[str, Any] | None:
        found = [e for e in await entries(office, "bob") if e["kind"] == "visit_assigned"]
        return found[0] if found and found[0]["state"] == "sent" else None

    entry = await wait_until(sent_entry, timeout=TIMEOUT, message="the outbox entry sent")
    assert entry["sender"] == "fcm" and entry["delivered"] == 1 and entry["attempts"] == 1

    # the inbox document reaches the phone with the next sync
    assert bob.sync_url is not None
    await phone.pull(bob.sync_url, headers=bob.headers)
    note = await phone.wait_for_doc(entry["notification_id"], timeout_s=TIMEOUT)
    assert note["kind"] == "visit_assigned" and note["user_id"] == "bob"
    assert note["data"]["visit_id"] == visit_id and note["read"] is False
    assert await phone.get_or_none(visit_id) is not None
    # exactly one visible push for the assignment
    assert len(pushes(fcm, "tok-bob", "visit_assigned")) == 1


async def test_an_order_confirmation_is_pushed_to_the_rep(
    office: World, fcm: FakeFcm, phone: Any
) -> None:
    alice = office.users["alice"]
    await register_device(office, "alice", "tok-alice")
    order = sample(
        "order",
        **{"_id": "order:alice-1"},
        rep_id="alice",
        account_id="account:a1",
        status="submitted",
        submitted_at=utc_now(),
        updated_by="alice",
    )
    stored = await office.couch.put(office.dbs.orders, order)
    rep_db = office.dbs.rep("alice")
    await wait_until(lambda: office.couch.get_or_none(rep_db, "order:alice-1"), timeout=TIMEOUT)
    # the back office (its ERP) confirms the order in fs_orders
    confirmed_at = utc_now()
    await office.couch.put(
        office.dbs.orders,
        {
            **order,
            "_rev": stored["rev"],
            "status": "confirmed",
            "confirmed_at": confirmed_at,
            "updated_at": confirmed_at,
            "updated_by": "olga",
        },
    )
    [message] = await wait_until(
        lambda: pushes(fcm, "tok-alice", "order_confirmed"), timeout=TIMEOUT, message="the push"
    )
    assert message["notification"]["title"] == "Order confirmed"
    assert message["data"]["order_id"] == "order:alice-1"
    assert pushes(fcm, "tok-alice", "order_rejected") == []  # a submitted order tells nothing

    [entry] = [e for e in await entries(office, "alice") if e["kind"] == "order_confirmed"]
    assert alice.sync_url is not None
    await phone.pull(alice.sync_url, headers=alice.headers)
    note = await phone.wait_for_doc(entry["notification_id"], timeout_s=TIMEOUT)
    assert note["kind"] == "order_confirmed" and note["title"] == "Order confirmed"
    assert (await phone.get("order:alice-1"))["status"] == "confirmed"


async def test_one_service_of_two_runs_the_jobs_and_another_takes_over(
    service_factory: Any,
) -> None:
    settings = {"scheduler_lease_ttl_s": 3.0, "notify_dispatch_s": 0.2}
    first = (await service_factory(**settings)).services.workers.notifier
    second = (await service_factory(**settings)).services.workers.notifier
    await wait_until(lambda: first.scheduler.runs["dispatch"] >= 3, timeout=TIMEOUT)
    assert first.lease.held and not second.lease.held
    assert second.scheduler.runs["dispatch"] == 0
    lease = await first.store.get(first.dbs.ops, "lease:scheduler")
    assert lease["holder"] == first.holder

    # the first stops (and gives the lease up): the second takes over and sends what is queued
    await first.stop()
    stopped_runs = first.scheduler.runs["dispatch"]
    await wait_until(lambda: second.lease.held, timeout=TIMEOUT, message="the takeover")
    [entry_id] = await first.enqueue(
        [Event(EventKind.ORDER_SHIPPED, "max", data={"order_id": "o"}, dedupe_key="s:o")]
    )

    async def sent() -> bool:
        doc = await second.outbox.get(entry_id)
        return bool(doc["state"] == "sent")

    await wait_until(sent, timeout=TIMEOUT, message="the entry sent by the second")
    runs = second.scheduler.runs["dispatch"]
    await wait_until(lambda: second.scheduler.runs["dispatch"] > runs, timeout=TIMEOUT)
    assert first.scheduler.runs["dispatch"] == stopped_runs

    # a third; the second dies without giving the lease up: the third waits for it to expire
    third = (await service_factory(**settings)).services.workers.notifier
    second.scheduler.scheduler.shutdown(wait=False)
    assert not third.lease.held
    await wait_until(lambda: third.lease.held, timeout=TIMEOUT, message="takeover after expiry")
    lease = await third.store.get(third.dbs.ops, "lease:scheduler")
    assert lease["holder"] == third.holder
    await wait_until(lambda: third.scheduler.runs["dispatch"] > 0, timeout=TIMEOUT)
