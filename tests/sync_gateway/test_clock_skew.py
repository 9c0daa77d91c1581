"""Devices whose clocks are hours off: real PouchDB phones through the gateway, router and resolver.

One device runs 5 hours ahead, the other 5 hours behind; every ``updated_at``, line and
checklist stamp, ``submitted_at``, ``check_in`` and ``check_out`` they write comes from their
own clock, as an offline app's would. What we expect:

- nothing is refused for a skewed timestamp (the schema checks formats, never "now", and
  never orders two stamps that may come from two clocks: a check-out on the slow tablet may
  read earlier than the check-in on the fast phone);
- every order reaches fs_orders, and the back office's inbox, exactly once;
- every visit note reaches fs_field once; conflicts converge to the same revision on both
  phones, the rep db and fs_orders / fs_field;
- the back office's status and confirmed quantities survive a rep edit stamped 5 hours ahead
  (status rank decides before any clock);
- a change only one side made is kept whatever the clocks say (three-way against the common
  ancestor); only where two devices changed the same line does the later stamp win, and the
  losing value is on record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from polling import wait_until
from support.phone import Phone
from support.world import World, add_user

from mobile_schema import format_timestamp, sample, sample_checklist_item, sample_order_line
from mobile_schema.money import order_total
from sync_gateway.couch import CouchNotFound

Clock = Callable[..., str]


def clock(hours_off: float) -> Clock:
    """A device clock ``hours_off`` from the real one: ``stamp(minutes=1)`` reads it later."""

    def stamp(minutes: float = 0) -> str:
        return format_timestamp(datetime.now(UTC) + timedelta(hours=hours_off, minutes=minutes))

    return stamp


AHEAD, BEHIND = clock(5), clock(-5)


def order(doc_id: str, at: str, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return sample(
        "order",
        _id=doc_id,
        rep_id="alice",
        status="submitted",
        submitted_at=at,
        lines=lines,
        updated_at=at,
        updated_by="alice",
        **fields,
    )


def line(line_id: str, qty: int, at: str) -> dict[str, Any]:
    return sample_order_line(line_id=line_id, sku=f"SKU-{line_id}", qty=qty, updated_at=at)


def edited(
    doc: dict[str, Any], at: str, lines: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    return {**doc, **fields, "lines": lines, "total": order_total(lines), "updated_at": at}


async def push_all(phone: Phone, user: Any) -> None:
    result = await phone.push(user.sync_url, headers=user.headers)
    # nothing refused: a refusal would show as a write failure or a denied document
    assert result["doc_write_failures"] == 0, result.get("denied") or result.get("errors")


async def live_revs(world: World, db: str, doc_id: str) -> list[str]:
    try:
        rows = await world.couch.open_revs(db, doc_id, "all")
    except CouchNotFound:  # not carried in yet: the fan-in waits for a push to settle
        return []
    return sorted(r["ok"]["_rev"] for r in rows if "ok" in r and not r["ok"].get("_deleted"))


async def inbox_ids(world: World, user: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    since = ""
    async with world.http(user) as http:
        while True:
            resp = await http.get("/api/v1/orders", params={"since": since, "limit": 7})
            assert resp.status_code == 200, resp.text
            page = resp.json()
            seen.update(item["_id"] for item in page["items"])
            since = page["next"]
            if not page["more"]:
                return seen


async def test_orders_from_skewed_clocks_arrive_once(
    world: World, phone: Phone, phone2: Phone
) -> None:
    alice = world.users["alice"]
    await add_user(world, "bo", "backoffice")
    ahead = [order(f"order:ahead-{i}", AHEAD(i), [line("l1", i + 1, AHEAD(i))]) for i in range(15)]
    behind = [
        order(f"order:behind-{i}", BEHIND(i), [line("l1", i + 1, BEHIND(i))]) for i in range(15)
    ]
    await phone.bulk_docs(ahead)
    await phone2.bulk_docs(behind)
    await push_all(phone, alice)
    await push_all(phone2, alice)

    expected = {d["_id"] for d in ahead + behind}

    async def all_arrived() -> bool:
        rows = (await world.couch.all_docs(world.dbs.orders, keys=sorted(expected)))["rows"]
        return all("value" in r for r in rows)

    await wait_until(all_arrived, timeout=60, message="every order in fs_orders")
    rows = await world.couch.all_docs(
        world.dbs.orders, keys=sorted(expected), include_docs=True, conflicts=True
    )
    stored = {r["id"]: r["doc"] for r in rows["rows"]}
    local = {
        r["id"]: r["value"]["rev"]
        for p in (phone, phone2)
        for r in (await p.all_docs())["rows"]
        if r["id"].startswith("order:")
    }
    assert {k: d["_rev"] for k, d in stored.items()} == local  # the devices' own revisions
    assert not [k for k, d in stored.items() if d.get("_conflicts")]
    # stored as sent: nobody "corrects" a device's clock (the revision id depends on the body)
    assert {k: stored[k]["updated_at"] for k in stored} == {
        d["_id"]: d["updated_at"] for d in ahead + behind
    }
    seen = await inbox_ids(world, "bo")
    assert {k: n for k, n in seen.items() if k in expected} == dict.fromkeys(expected, 1)


async def test_an_order_edited_on_skewed_clocks_and_confirmed_converges(
    world: World, phone: Phone, phone2: Phone
) -> None:
    """
    1-submitted (ahead phone: l1, l2) ── 2-confirmed (back office, real clock)
                                     ├── 2-ahead  (+5 h: l1 qty 2, adds la)
                                     └── 2-behind (-5 h: l1 qty 9, l2 qty 7, adds lb, note)
    """
    alice = world.users["alice"]
    await add_user(world, "bo", "backoffice")
    created = AHEAD()
    first = order("order:shared", created, [line("l1", 1, created), line("l2", 1, created)])
    await phone.put(first)
    await push_all(phone, alice)

    async def in_orders() -> bool:
        return await world.couch.get_or_none(world.dbs.orders, "order:shared") is not None

    await wait_until(in_orders, timeout=60, message="the order in fs_orders")
    await phone2.pull(alice.sync_url, headers=alice.headers)
    async with world.http("bo") as http:
        resp = await http.post("/api/v1/orders/shared/confirm", json={})
    assert resp.status_code == 200, resp.text
    confirmed_at = resp.json()["confirmed_at"]

    # offline, neither device has seen the confirmation
    mine = await phone.get("order:shared")
    at = AHEAD(minutes=1)
    await phone.put(edited(mine, at, [line("l1", 2, at), mine["lines"][1], line("la", 3, at)]))
    theirs = await phone2.get("order:shared")
    at = BEHIND()
    await phone2.put(
        edited(
            theirs,
            at,
            [line("l1", 9, at), line("l2", 7, at), line("lb", 4, at)],
            note="Deliver to the back door",
        )
    )
    await push_all(phone, alice)
    await push_all(phone2, alice)

    async def merged() -> str | None:
        revs = await live_revs(world, world.dbs.orders, "order:shared")
        if len(revs) != 1:
            return None
        doc = await world.couch.get(world.dbs.orders, "order:shared")
        return revs[0] if {x["line_id"] for x in doc["lines"]} == {"l1", "l2", "la", "lb"} else None

    rev: str = await wait_until(merged, timeout=60, message="both edits merged in fs_orders")

    async def in_rep_db() -> bool:
        return await live_revs(world, world.dbs.rep("alice"), "order:shared") == [rev]

    await wait_until(in_rep_db, timeout=60, message="the merge the only leaf in rep_alice")
    await phone.pull(alice.sync_url, headers=alice.headers)
    await phone2.pull(alice.sync_url, headers=alice.headers)
    a = await phone.get("order:shared", conflicts=True)
    b = await phone2.get("order:shared", conflicts=True)
    server = await world.couch.get(world.dbs.orders, "order:shared", conflicts=True)
    assert a == b and a["_rev"] == rev and "_conflicts" not in a
    assert {k: v for k, v in server.items() if k != "_revisions"} == a

    # the back office's decision stands although the rep's stamp is 5 hours later
    assert a["status"] == "confirmed" and a["confirmed_at"] == confirmed_at
    lines = {x["line_id"]: x for x in a["lines"]}
    assert {k: (x["qty"], x["confirmed_qty"], x["deleted"]) for k, x in lines.items()} == {
        "l1": (2, 1, False),  # edited on both: the later stamp (the phone 5 h ahead) wins
        "l2": (7, 1, False),  # edited only on the phone 5 h behind: kept, whatever its clock
        "la": (3, None, False),
        "lb": (4, None, False),
    }
    assert a["note"] == "Deliver to the back door"  # only the device behind changed it
    assert a["total"] == order_total(a["lines"])
    # the one value that lost is on record for alice
    async with world.http("max") as http:
        resp = await http.get("/api/v1/conflicts", params={"user_id": "alice"})
    lost = [
        o["lost_value"]
        for r in resp.json()["records"]
        for o in r["overridden"]
        if o["what"] == "lines[l1]"
    ]
    assert [v["qty"] for v in lost if isinstance(v, dict)] == [9]


async def test_visit_notes_and_visit_from_skewed_clocks(
    world: World, phone: Phone, phone2: Phone
) -> None:
    bob = world.users["bob"]
    await world.couch.put(world.dbs.field, sample("visit", _id="visit:v-5", assignee_id="bob"))

    async def visit_arrived() -> bool:
        return await world.couch.get_or_none(world.dbs.rep("bob"), "visit:v-5") is not None

    await wait_until(visit_arrived, timeout=60, message="the visit in rep_bob")
    await phone.pull(bob.sync_url, headers=bob.headers)
    at = AHEAD()
    visit = await phone.get("visit:v-5")
    await phone.put({**visit, "status": "in_progress", "check_in": at, "updated_at": at})
    text = "Arrived.\nChecked the boiler.\nCustomer happy."
    note = sample(
        "visit_note",
        _id="visit_note:n-5",
        visit_id="visit:v-5",
        author_id="bob",
        updated_by="bob",
        text=text,
        checklist=[sample_checklist_item(item_id="c1", label="Pressure", updated_at=at)],
        updated_at=at,
    )
    await phone.put(note)
    await push_all(phone, bob)
    await phone2.pull(bob.sync_url, headers=bob.headers)

    # the tablet, 5 hours behind, checks out of the visit the phone checked in to
    checked_in, checked_out = at, BEHIND(minutes=45)
    visit = await phone2.get("visit:v-5")
    assert visit["status"] == "in_progress"
    done = {**visit, "status": "done", "check_out": checked_out, "updated_at": checked_out}
    done_rev = (await phone2.put(done))["rev"]
    # both edit the note offline; each also writes a new one
    one = await phone.get("visit_note:n-5")
    at = AHEAD(minutes=1)
    ticked = {**one["checklist"][0], "done": True, "updated_at": at}
    await phone.put({**one, "text": text.replace("Arrived.", "Arrived 9:05."),
                     "checklist": [ticked], "updated_at": at})  # fmt: skip
    two = await phone2.get("visit_note:n-5")
    at = BEHIND(minutes=1)
    extra = sample_checklist_item(item_id="c2", label="Gasket", done=True, updated_at=at)
    await phone2.put({**two, "text": text + "\nReplaced the gasket.",
                      "checklist": [*two["checklist"], extra], "updated_at": at})  # fmt: skip
    new_revs = []
    for device, clk, name in ((phone, AHEAD, "n-ahead"), (phone2, BEHIND, "n-behind")):
        stamp = clk()
        written = await device.put(
            sample(
                "visit_note",
                _id=f"visit_note:{name}",
                visit_id="visit:v-5",
                author_id="bob",
                updated_by="bob",
                text=name,
                updated_at=stamp,
            )
        )
        new_revs.append(written["rev"])
    await push_all(phone, bob)
    await push_all(phone2, bob)

    async def merged() -> str | None:
        revs = await live_revs(world, world.dbs.field, "visit_note:n-5")
        if len(revs) != 1:
            return None
        doc = await world.couch.get(world.dbs.field, "visit_note:n-5")
        return revs[0] if doc["updated_by"] == "resolver" else None

    rev: str = await wait_until(merged, timeout=60, message="the note merged in fs_field")

    async def in_rep_db() -> bool:
        return await live_revs(world, world.dbs.rep("bob"), "visit_note:n-5") == [rev]

    await wait_until(in_rep_db, timeout=60, message="the merge the only leaf in rep_bob")
    await phone.pull(bob.sync_url, headers=bob.headers)
    await phone2.pull(bob.sync_url, headers=bob.headers)
    a = await phone.get("visit_note:n-5", conflicts=True)
    b = await phone2.get("visit_note:n-5", conflicts=True)
    assert a == b and a["_rev"] == rev and "_conflicts" not in a
    assert a["text"] == "Arrived 9:05.\nChecked the boiler.\nCustomer happy.\nReplaced the gasket."
    assert {(c["item_id"], c["done"]) for c in a["checklist"]} == {("c1", True), ("c2", True)}
    # the new notes of both devices and the check-out made on the slow clock reached fs_field
    wanted = {"visit_note:n-ahead": new_revs[0], "visit_note:n-behind": new_revs[1]}
    wanted["visit:v-5"] = done_rev

    async def all_home() -> bool:
        rows = (await world.couch.all_docs(world.dbs.field, keys=sorted(wanted)))["rows"]
        return {r["key"]: r.get("value", {}).get("rev") for r in rows} == wanted

    await wait_until(all_home, timeout=60, message="the visit and the new notes in fs_field")
    for doc_id in wanted:
        assert len(await live_revs(world, world.dbs.field, doc_id)) == 1
    home = await world.couch.get(world.dbs.field, "visit:v-5")
    assert home["status"] == "done"
    assert (home["check_in"], home["check_out"]) == (checked_in, checked_out)
    assert home["check_out"] < home["check_in"]  # as the two clocks wrote them
