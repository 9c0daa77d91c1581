"""End to end through the API, the router and the gateway, with real PouchDB phones.

The office side uses only the REST API (territories, reps, accounts, visits) plus one direct
write to fs_orders standing in for the back office's ERP; the field side is PouchDB replicating
with ``sync_url`` and a Bearer token, as the app does. The router runs inside the service.
"""

from __future__ import annotations

from typing import Any

import httpx
from polling import wait_until
from support.world import World

from mobile_schema import sample, utc_now

TIMEOUT = 60.0
PRODUCTS = [{"sku": "SKU-1", "name": "Espresso 1 kg", "unit": "kg"}]
ACCOUNTS = [
    {"_id": "account:n1", "name": "North One"},
    {"_id": "account:n2", "name": "North Two"},
    {"_id": "account:s1", "name": "South One", "address": "1 South St"},
]
CONTACTS = [
    {"_id": "contact:kn1", "account_id": "account:n1", "name": "Kari"},
    {"_id": "contact:ks1", "account_id": "account:s1", "name": "Sven"},
]


def admin_http(world: World) -> httpx.AsyncClient:
    return world.http(headers={"Authorization": f"Bearer {world.admin_token}"})


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


async def live_ids(world: World, db: str, prefix: str) -> set[str]:
    rows = (await world.couch.all_docs(db, startkey=prefix, endkey=prefix + "\ufff0"))["rows"]
    return {row["id"] for row in rows}


async def wait_for_ids(world: World, user: str, prefix: str, expected: set[str]) -> None:
    db = world.dbs.rep(user)

    async def probe() -> bool:
        return await live_ids(world, db, prefix) == expected

    await wait_until(probe, timeout=TIMEOUT, message=f"{db} {prefix}* == {sorted(expected)}")


async def phone_ids(phone: Any, prefix: str) -> set[str]:
    rows = (await phone.all_docs())["rows"]
    return {row["id"] for row in rows if row["id"].startswith(prefix)}


async def setup_office(world: World) -> None:
    """Catalog and customers by the back office; north (alice) and south (carol) by max."""
    async with admin_http(world) as http:
        for path, items in (
            ("/api/v1/products", PRODUCTS),
            ("/api/v1/accounts", ACCOUNTS),
            ("/api/v1/contacts", CONTACTS),
        ):
            assert (await ok(await http.put(path, json=items)))["errors"] == 0
    async with world.http("max") as http:
        for tid, accounts, reps in (
            ("north", ["n1", "n2"], ["alice"]),
            ("south", ["s1"], ["carol"]),
        ):
            await ok(await http.post("/api/v1/territories", json={"id": tid, "name": tid}), 201)
            await ok(await http.put(f"/api/v1/territories/{tid}/accounts", json=accounts))
            await ok(await http.put(f"/api/v1/territories/{tid}/reps", json=reps))


async def test_territories_orders_and_visits_reach_the_right_phones(
    world: World, phone: Any, phone2: Any
) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    await setup_office(world)

    # a rep sees only the accounts (and contacts) of their territories
    await wait_for_ids(world, "alice", "account:", {"account:n1", "account:n2"})
    await wait_for_ids(world, "carol", "account:", {"account:s1"})
    await wait_for_ids(world, "alice", "contact:", {"contact:kn1"})
    await phone.pull(alice.sync_url, headers=alice.headers)
    assert await phone_ids(phone, "account:") == {"account:n1", "account:n2"}
    assert await phone_ids(phone, "contact:") == {"contact:kn1"}
    assert await phone_ids(phone, "product:") == {"product:SKU-1"}
    assert await phone_ids(phone, "territory:") == {"territory:north"}

    # an order taken on the phone reaches fs_orders
    order = sample(
        "order",
        **{"_id": "order:alice-1"},
        rep_id="alice",
        account_id="account:n1",
        status="submitted",
        submitted_at=utc_now(),
        updated_by="alice",
    )
    await phone.put(order)
    pushed = await phone.push(alice.sync_url, headers=alice.headers)
    assert pushed["docs_written"] == 1, pushed

    async def in_orders() -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await world.couch.get_or_none(
            world.dbs.orders, "order:alice-1"
        )
        return doc

    assert (await wait_until(in_orders, timeout=TIMEOUT, message="order in fs_orders"))[
        "status"
    ] == "submitted"

    # alice loses north and gains south: after a pull the phone holds south's accounts only
    async with world.http("max") as http:
        await ok(await http.put("/api/v1/territories/north/reps", json=[]))
        await ok(await http.put("/api/v1/territories/south/reps", json=["carol", "alice"]))
    await wait_for_ids(world, "alice", "account:", {"account:s1"})
    await wait_for_ids(world, "alice", "contact:", {"contact:ks1"})
    await phone.pull(alice.sync_url, headers=alice.headers)
    assert await phone_ids(phone, "account:") == {"account:s1"}
    assert await phone_ids(phone, "contact:") == {"contact:ks1"}
    assert await phone.get_or_none("account:n1") is None
    assert await phone_ids(phone, "territory:") == {"territory:south"}
    # her own order stays, on the phone and in her database
    assert (await phone.get("order:alice-1"))["status"] == "submitted"
    assert await live_ids(world, world.dbs.rep("alice"), "order:") == {"order:alice-1"}
    # carol was not touched
    assert await live_ids(world, world.dbs.rep("carol"), "account:") == {"account:s1"}

    # the back office confirms the order in fs_orders: the phone's live feed gets it
    await phone.live_start(
        "live", alice.sync_url, headers=alice.headers, options={"back_off_ms": 200}
    )
    current = await world.couch.get(world.dbs.orders, "order:alice-1")
    confirmed_at = utc_now()
    await world.couch.put(
        world.dbs.orders,
        {
            **current,
            "status": "confirmed",
            "confirmed_at": confirmed_at,
            "updated_at": confirmed_at,
            "updated_by": "admin",
        },
    )
    doc = await phone.wait_for_doc("order:alice-1", {"status": "confirmed"}, timeout_s=TIMEOUT)
    assert doc["confirmed_at"] == confirmed_at
    assert not doc.get("_conflicts")
    await phone.live_stop("live")

    # a visit assigned to engineer bob (no territory) reaches his phone with its account
    async with world.http("max") as http:
        visit = await ok(
            await http.post(
                "/api/v1/visits",
                json={"assignee_id": "bob", "account_id": "account:s1", "kind": "service"},
            ),
            201,
        )
    await wait_for_ids(world, "bob", "visit:", {visit["_id"]})
    await wait_for_ids(world, "bob", "account:", {"account:s1"})
    await phone2.pull(bob.sync_url, headers=bob.headers)
    on_phone = await phone2.get(visit["_id"])
    assert on_phone["_rev"] == visit["_rev"] and on_phone["assignee_id"] == "bob"
    assert (await phone2.get("account:s1"))["address"] == "1 South St"
    assert await live_ids(world, world.dbs.rep("alice"), "visit:") == set()

    # the note bob writes on it comes back to fs_field
    note = sample(
        "visit_note",
        **{"_id": "visit_note:bob-1"},
        visit_id=visit["_id"],
        author_id="bob",
        text="Pump replaced.",
        updated_at=utc_now(),
        updated_by="bob",
    )
    await phone2.put(note)
    pushed = await phone2.push(bob.sync_url, headers=bob.headers)
    assert pushed["docs_written"] == 1, pushed

    async def in_field() -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await world.couch.get_or_none(
            world.dbs.field, "visit_note:bob-1"
        )
        return doc

    stored = await wait_until(in_field, timeout=TIMEOUT, message="visit note in fs_field")
    assert stored["text"] == "Pump replaced." and stored["visit_id"] == visit["_id"]
