"""Conflicts end to end: real PouchDB phones through the gateway, router and resolver running.

phone ─┐ push                    fan-in               resolver
       ├──────> rep_<user> ─────────────> fs_orders ───────────> merged child + tombstones
phone2 ┘ <────── pull <──────── fan-out <──────────┘                   │
                                                                        └─> conflict_record
                                                                            (fs_ops), notification
                                                                            (rep_<user>)
"""

from __future__ import annotations

from typing import Any

from polling import wait_until
from support.world import World

from conflict.records import notification_id
from mobile_schema import sample, sample_order_line
from mobile_schema.money import order_total
from sync_gateway.couch.errors import CouchNotFound

T0 = "2024-05-01T08:00:00.000Z"
T1 = "2024-05-01T09:00:00.000Z"
T2 = "2024-05-01T10:00:00.000Z"
T3 = "2024-05-01T11:00:00.000Z"


def with_lines(doc: dict[str, Any], lines: list[dict[str, Any]], at: str) -> dict[str, Any]:
    return {**doc, "lines": lines, "total": order_total(lines), "updated_at": at}


async def live_revs(world: World, db: str, doc_id: str) -> list[str]:
    try:
        rows = await world.couch.open_revs(db, doc_id, "all")
    except CouchNotFound:  # not carried in yet: the fan-in waits for a push to settle
        return []
    return sorted(r["ok"]["_rev"] for r in rows if "ok" in r and not r["ok"].get("_deleted"))


async def resolved(world: World, doc_id: str, db: str | None = None) -> str:
    """Wait until ``doc_id`` has one live leaf written by the resolver; return its revision."""
    home = db or world.dbs.orders

    async def probe() -> str | None:
        revs = await live_revs(world, home, doc_id)
        if len(revs) != 1:
            return None
        doc = await world.couch.get(home, doc_id)
        return revs[0] if doc.get("updated_by") == "resolver" else None

    rev: str = await wait_until(probe, timeout=60, message=f"{doc_id} resolved in {home}")
    return rev


async def reaches(world: World, user: str, doc_id: str, rev: str) -> None:
    """Wait until the user's database shows ``rev`` as the only live leaf."""
    db = world.dbs.rep(user)

    async def probe() -> bool:
        return await live_revs(world, db, doc_id) == [rev]

    await wait_until(probe, timeout=60, message=f"{rev} the only leaf in {db}")


async def test_one_order_edited_on_two_phones_converges(
    world: World, phone: Any, phone2: Any
) -> None:
    alice = world.users["alice"]
    lines = [sample_order_line(line_id="l1", qty=1, updated_at=T0)]
    first = with_lines(
        sample("order", _id="order:o-1", rep_id="alice", updated_by="alice"), lines, T0
    )
    await phone.put(first)
    await phone.push(alice.sync_url, headers=alice.headers)
    await phone2.pull(alice.sync_url, headers=alice.headers)
    base = await phone2.get("order:o-1")

    # offline: the phone adds a line and changes l1; the PDA changes l1 and the note
    one = await phone.get("order:o-1")
    l1_phone = sample_order_line(line_id="l1", qty=2, updated_at=T1)
    l2 = sample_order_line(line_id="l2", sku="SKU-2", qty=4, updated_at=T1)
    await phone.put(with_lines(one, [l1_phone, l2], T1))
    l1_pda = sample_order_line(line_id="l1", qty=6, updated_at=T2)
    await phone2.put({**with_lines(base, [l1_pda], T2), "note": "Ring twice"})

    await phone.push(alice.sync_url, headers=alice.headers)
    await phone2.push(alice.sync_url, headers=alice.headers)
    merged = await resolved(world, "order:o-1")
    await reaches(world, "alice", "order:o-1", merged)

    await phone.pull(alice.sync_url, headers=alice.headers)
    await phone2.pull(alice.sync_url, headers=alice.headers)
    a = await phone.get("order:o-1", conflicts=True)
    b = await phone2.get("order:o-1", conflicts=True)
    assert a["_rev"] == b["_rev"] == merged
    assert "_conflicts" not in a and "_conflicts" not in b
    assert a == b
    # different lines both kept; the same line: the later edit (the PDA's 6) wins
    assert {(x["line_id"], x["qty"]) for x in a["lines"]} == {("l1", 6), ("l2", 4)}
    assert a["note"] == "Ring twice"
    assert a["total"] == order_total(a["lines"])

    # the phone's qty 2 lost, on record and told to alice on both devices
    async with world.http("max") as http:
        resp = await http.get("/api/v1/conflicts", params={"user_id": "alice"})
    assert resp.status_code == 200, resp.text
    (record,) = resp.json()["records"]
    assert record["doc_id"] == "order:o-1" and record["merged_rev"] == merged
    assert [o["what"] for o in record["overridden"]] == ["lines[l1]"]
    assert record["overridden"][0]["lost_value"]["qty"] == 2
    note = await phone.get(notification_id("order:o-1", merged))
    assert note["kind"] == "conflict_overridden" and note["user_id"] == "alice"


async def test_back_office_confirmation_wins_over_an_offline_edit(world: World, phone: Any) -> None:
    alice = world.users["alice"]
    lines = [sample_order_line(line_id="l1", qty=3, unit_price="12.50", updated_at=T0)]
    submitted = with_lines(
        sample(
            "order",
            _id="order:o-2",
            rep_id="alice",
            updated_by="alice",
            status="submitted",
            submitted_at=T0,
        ),
        lines,
        T0,
    )
    await phone.put(submitted)
    await phone.push(alice.sync_url, headers=alice.headers)

    async def in_orders() -> dict[str, Any] | None:
        return await world.couch.get_or_none(world.dbs.orders, "order:o-2")

    server = await wait_until(in_orders, timeout=60, message="the order in fs_orders")
    # the back office confirms in fs_orders, a child of the submitted revision
    bo_lines = [{**lines[0], "confirmed_qty": 3}]
    await world.couch.put(
        world.dbs.orders,
        {
            **with_lines(server, bo_lines, T1),
            "status": "confirmed",
            "confirmed_at": T1,
            "updated_by": "max",
        },
    )
    # meanwhile, offline, the rep gives a better price and one more unit
    mine = await phone.get("order:o-2")
    rep_lines = [{**lines[0], "qty": 4, "unit_price": "11.00", "updated_at": T2}]
    await phone.put({**with_lines(mine, rep_lines, T2), "note": "Promised 11.00"})
    result = await phone.push(alice.sync_url, headers=alice.headers)
    assert result["docs_written"] == 1, result

    merged = await resolved(world, "order:o-2")
    await reaches(world, "alice", "order:o-2", merged)
    await phone.pull(alice.sync_url, headers=alice.headers)
    doc = await phone.get("order:o-2", conflicts=True)
    assert doc["_rev"] == merged and "_conflicts" not in doc
    assert doc["status"] == "confirmed" and doc["confirmed_at"] == T1
    (line,) = doc["lines"]
    assert line["unit_price"] == "12.50" and line["confirmed_qty"] == 3
    assert line["qty"] == 4 and doc["note"] == "Promised 11.00"  # the rep's own fields stay

    async with world.http("max") as http:
        resp = await http.get("/api/v1/conflicts", params={"doc_type": "order"})
    (record,) = resp.json()["records"]
    assert "alice" in record["user_ids"]
    price = [o for o in record["overridden"] if o["what"] == "lines[l1].unit_price"]
    assert price == [{"what": "lines[l1].unit_price", "lost_value": "11.00", "by": price[0]["by"]}]
    assert "back office" in price[0]["by"]
    notice = await phone.get(notification_id("order:o-2", merged))
    assert notice["user_id"] == "alice" and "unit_price" in notice["body"]
    assert notice["data"]["conflict_record_id"] == record["_id"]

    # and a push: one outbox entry for alice, with no second inbox document
    async def pushed() -> list[dict[str, Any]]:
        async with world.http("max") as http:
            resp = await http.get("/api/v1/notifications", params={"user_id": "alice"})
        return [e for e in resp.json()["items"] if e["kind"] == "conflict_overridden"]

    (entry,) = await wait_until(pushed, timeout=30, message="the conflict push in the outbox")
    assert entry["dedupe_key"] == record["_id"] and entry["notification_id"] is None
    await phone.pull(alice.sync_url, headers=alice.headers)
    rows = (await phone.all_docs(include_docs=True))["rows"]
    notices = [r for r in rows if r["doc"].get("kind") == "conflict_overridden"]
    assert len(notices) == 1


async def test_a_visit_note_edited_on_two_devices_keeps_both_edits(
    world: World, phone: Any, phone2: Any
) -> None:
    bob = world.users["bob"]
    visit = sample("visit", _id="visit:v-9", assignee_id="bob")
    await world.couch.put(world.dbs.field, visit)

    async def visit_arrived() -> bool:
        return await world.couch.get_or_none(world.dbs.rep("bob"), "visit:v-9") is not None

    await wait_until(visit_arrived, timeout=60, message="the visit in rep_bob")
    await phone.pull(bob.sync_url, headers=bob.headers)
    text = "Arrived 9:00.\nChecked the boiler.\nCustomer happy."
    await phone.put(
        sample(
            "visit_note",
            _id="visit_note:n-9",
            visit_id="visit:v-9",
            author_id="bob",
            updated_by="bob",
            text=text,
            updated_at=T0,
        )
    )
    await phone.push(bob.sync_url, headers=bob.headers)
    await phone2.pull(bob.sync_url, headers=bob.headers)

    one = await phone.get("visit_note:n-9")
    two = await phone2.get("visit_note:n-9")
    await phone.put({**one, "text": text.replace("9:00", "9:05"), "updated_at": T1})
    await phone2.put({**two, "text": text + "\nReplaced the gasket.", "updated_at": T3})
    await phone.push(bob.sync_url, headers=bob.headers)
    await phone2.push(bob.sync_url, headers=bob.headers)

    merged = await resolved(world, "visit_note:n-9", world.dbs.field)
    await reaches(world, "bob", "visit_note:n-9", merged)
    await phone.pull(bob.sync_url, headers=bob.headers)
    await phone2.pull(bob.sync_url, headers=bob.headers)
    a = await phone.get("visit_note:n-9", conflicts=True)
    b = await phone2.get("visit_note:n-9", conflicts=True)
    assert a == b and a["_rev"] == merged and "_conflicts" not in a
    assert a["text"] == "Arrived 9:05.\nChecked the boiler.\nCustomer happy.\nReplaced the gasket."


async def test_conflicts_api_is_for_managers_and_checks_its_input(world: World) -> None:
    async with world.http("alice") as http:
        assert (await http.get("/api/v1/conflicts")).status_code == 403
    async with world.http("max") as http:
        resp = await http.get("/api/v1/conflicts")
        assert resp.status_code == 200 and resp.json() == {"records": [], "next_cursor": None}
        assert (
            await http.get("/api/v1/conflicts", params={"since": "yesterday"})
        ).status_code == 422
        assert (await http.get("/api/v1/conflicts", params={"cursor": "!!"})).status_code == 422
        assert (await http.get("/api/v1/conflicts", params={"limit": 0})).status_code == 422
