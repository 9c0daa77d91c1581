"""The manager's team view against hand-made data on PouchDB Server."""

from __future__ import annotations

from typing import Any

import pytest
from polling import wait_until
from support.orders_world import order, orders_world
from support.world import World

from mobile_schema import sample
from sync_gateway.auth.devices import DeviceStore

DAY = "2024-05-02"
LAST_PULL = "2024-05-02T10:00:00.000Z"


@pytest.fixture
async def world(service: Any) -> World:
    return await orders_world(service)


def note(n: int, updated_at: str) -> dict[str, Any]:
    # notifications are not routed, so the router leaves these alone in the rep database
    return sample(
        "notification", **{"_id": f"notification:t{n}"}, user_id="alice", updated_at=updated_at
    )


def visit(n: int, assignee: str, status: str, start: str) -> dict[str, Any]:
    return sample(
        "visit",
        **{"_id": f"visit:t{n}"},
        assignee_id=assignee,
        status=status,
        scheduled_start=start,
        scheduled_end=start,
        work_order_id=None,
    )


async def team(world: World, user: str = "max", **params: Any) -> Any:
    async with world.http(user) as http:
        return await http.get("/api/v1/team", params=params)


async def test_team_numbers_match_hand_made_data(world: World) -> None:
    couch, dbs = world.couch, world.dbs
    alice_db = dbs.rep("alice")
    await wait_until(lambda: couch.db_exists(alice_db), timeout=20, message="rep_alice")
    await wait_until(lambda: couch.db_exists(dbs.rep("carol")), timeout=20, message="rep_carol")
    # devices: alice has two, the newest pull is LAST_PULL; carol has none
    store = DeviceStore(couch, dbs)
    await store.register("alice", "phone", "android", None)
    await store.register("alice", "tablet", "ios", None)
    await store.record_activity(
        {
            ("alice", "phone"): {"last_pull": "2024-05-02T09:00:00.000Z"},
            ("alice", "tablet"): {
                "last_pull": LAST_PULL,
                "last_push": "2024-05-02T10:00:05.000Z",
            },
        }
    )
    # pending for alice: two documents changed after LAST_PULL, one before
    await couch.bulk_docs(
        alice_db,
        [
            note(1, "2024-05-02T11:00:00.000Z"),
            note(2, "2024-05-02T10:30:00.000Z"),
            note(3, "2024-05-02T08:00:00.000Z"),
        ],
    )
    # one open conflict in alice's database (two live leaves), one resolved (deleted leaf)
    for n, deleted in ((4, False), (5, True)):
        base = note(n, "2024-05-01T08:00:00.000Z")
        await couch.bulk_docs(
            alice_db,
            [
                {**base, "_rev": "1-" + "a" * 32},
                {**base, "read": True, "_rev": "1-" + "b" * 32, "_deleted": deleted},
            ],
            new_edits=False,
        )
    # the day's work: orders by submitted_at day, visits by scheduled_start day
    await couch.bulk_docs(
        dbs.orders,
        [
            order("a1", submitted_at=f"{DAY}T08:00:00.000Z"),
            order("a2", submitted_at=f"{DAY}T23:59:59.999Z"),
            order("a-old", submitted_at="2024-05-01T23:59:59.999Z"),
            order("a-draft", status="draft"),
            order("c1", rep="carol", submitted_at=f"{DAY}T12:00:00.000Z"),
        ],
    )
    await couch.bulk_docs(
        dbs.field,
        [
            visit(1, "bob", "planned", f"{DAY}T07:00:00.000Z"),
            visit(2, "bob", "done", f"{DAY}T09:00:00.000Z"),
            visit(3, "bob", "in_progress", f"{DAY}T11:00:00.000Z"),
            visit(4, "bob", "cancelled", f"{DAY}T13:00:00.000Z"),
            visit(5, "bob", "done", "2024-05-03T07:00:00.000Z"),
            visit(6, "alice", "done", f"{DAY}T15:00:00.000Z"),
        ],
    )
    # carol has never pulled: everything in her database is pending
    await wait_until(
        lambda: couch.get_or_none(dbs.rep("carol"), "order:c1"), timeout=20, message="copy"
    )

    resp = await team(world, day=DAY)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["day"] == DAY
    users = {u["user_id"]: u for u in body["users"]}
    assert sorted(users) == ["alice", "bob", "carol"]  # field users only

    alice = users["alice"]
    assert [d["device_id"] for d in alice["devices"]] == ["phone", "tablet"]
    assert alice["last_pull"] == LAST_PULL
    assert alice["last_push"] == "2024-05-02T10:00:05.000Z"
    assert (alice["pending_changes"], alice["pending_capped"]) == (2, False)
    assert alice["open_conflicts"] == 1
    assert (alice["orders_today"], alice["visits_planned"], alice["visits_done"]) == (2, 1, 1)

    bob = users["bob"]
    assert (bob["orders_today"], bob["visits_planned"], bob["visits_done"]) == (0, 3, 1)
    assert bob["devices"] == [] and bob["last_pull"] is None

    carol = users["carol"]
    carol_count = (await couch.db_info(dbs.rep("carol")))["doc_count"]
    assert carol["pending_changes"] == carol_count >= 1
    assert carol["orders_today"] == 1
    assert carol["open_conflicts"] == 0


async def test_team_is_for_managers_and_admins(world: World) -> None:
    for user, code in (("max", 200), ("bo", 403), ("alice", 403), ("bob", 403)):
        resp = await team(world, user)
        assert resp.status_code == code, user
    async with world.http(headers={"Authorization": f"Bearer {world.admin_token}"}) as http:
        assert (await http.get("/api/v1/team")).status_code == 200
        bad = await http.get("/api/v1/team", params={"day": "yesterday"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
