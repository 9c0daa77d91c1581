# ruff: noqa: F811  (fixtures imported from router_world are test parameters here)
"""The router against a real PouchDB Server: fan-out, fan-in, deltas, checkpoints, restarts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from polling import wait_until
from router_world import ALICE_IDS, BOB_IDS, events, live_ids, router, seeded, update_seqs  # noqa: F401

from mobile_schema import sample
from sync_gateway.couch import CouchClient, CouchNotFound
from sync_gateway.databases import Databases
from sync_gateway.router import Router
from sync_gateway.router.copier import is_router_tombstone

Events = list[tuple[str, dict[str, Any]]]


async def put_rev(couch: CouchClient, db: str, doc: dict[str, Any], rev: str,
                  parent: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Store ``doc`` at revision ``rev`` (child of ``parent``) as a replicator would."""
    gen, digest = rev.split("-", 1)
    ids = [digest] + ([parent.split("-", 1)[1]] if parent else [])
    body = {**doc, "_rev": rev, "_revisions": {"start": int(gen), "ids": ids}}
    await couch.bulk_docs(db, [body], new_edits=False)
    return body


async def leaves(couch: CouchClient, db: str, doc_id: str) -> set[str]:
    return {r["ok"]["_rev"] for r in await couch.open_revs(db, doc_id) if "ok" in r}


async def test_fan_out_gives_each_user_exactly_their_documents(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    await router.run_once()
    assert await live_ids(couch, seeded.rep("alice")) == ALICE_IDS
    # bob has no territory: his visit and work order bring account:sor and its contact
    assert await live_ids(couch, seeded.rep("bob")) == BOB_IDS
    for doc_id in ALICE_IDS:
        there = await couch.get(seeded.rep("alice"), doc_id)
        home = await couch.get(seeded.master, doc_id)
        assert there["_rev"] == home["_rev"]


def bulk_gets_of(kind: str) -> float:
    """How many ``_bulk_get`` this process sent to a database of ``kind`` (any actor)."""
    from sync_gateway.work import COUCH_REQUESTS

    return sum(
        s.value
        for metric in COUCH_REQUESTS.collect()
        for s in metric.samples
        if s.name.endswith("_count") and s.labels["op"] == "_bulk_get"
        and s.labels["db"] == kind
    )  # fmt: skip


async def test_a_page_is_read_once_for_every_user_it_goes_to(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    await router.run_once()
    before = bulk_gets_of("master")
    products = [sample("product", **{"_id": f"product:p-{n}"}) for n in range(5)]
    await couch.bulk_docs(seeded.master, products)
    await router.run_once()
    for user in ("alice", "bob"):  # products go to everyone
        for product in products:
            assert await couch.get_or_none(seeded.rep(user), product["_id"]) is not None
    assert bulk_gets_of("master") - before == 1  # one page: one read, not one per user


async def test_losing_and_regaining_a_territory(
    couch: CouchClient, seeded: Databases, router: Router, events: Events
) -> None:
    alice = seeded.rep("alice")
    await router.run_once()
    order = await put_rev(couch, alice, sample("order"), "1-" + "a" * 32)
    await router.run_once()
    assert (await couch.get(seeded.orders, "order:o-1"))["_rev"] == order["_rev"]

    # The manager moves cafe-nord to south: alice loses it and its contact, in rep_alice only.
    account = await couch.get(seeded.master, "account:cafe-nord")
    await couch.put(seeded.master, {**account, "territory_id": "territory:south"})
    await router.run_once()
    lost = {"account:cafe-nord", "contact:kari"}
    assert await live_ids(couch, alice) == (ALICE_IDS - lost) | {"order:o-1"}
    assert (await couch.get(seeded.master, "contact:kari"))["_rev"].startswith("1-")
    gone = await couch.open_revs(alice, "contact:kari")
    assert [is_router_tombstone(r["ok"]) for r in gone] == [True]
    # bob's database is untouched.
    assert await live_ids(couch, seeded.rep("bob")) == BOB_IDS

    # alice is taken off north: territory and price list go too.
    north = await couch.get(seeded.master, "territory:north")
    north = {**north, "rep_ids": []}
    north["_rev"] = (await couch.put(seeded.master, north))["rev"]
    await router.run_once()
    assert await live_ids(couch, alice) == {"product:SKU-1", "product:SKU-2", "order:o-1"}
    assert ("assignment_lost", {"user_id": "alice", "doc_ids": ["territory:north"]}) in events
    # Nothing of that travelled back: master and orders are as they were.
    assert (await couch.get(seeded.master, "price_list:std"))["_rev"].startswith("1-")
    assert (await couch.get(seeded.orders, "order:o-1"))["_rev"] == order["_rev"]

    # Back on north: price_list:std (unchanged in fs_master) must reappear despite the tombstone.
    await couch.put(seeded.master, {**north, "rep_ids": ["alice"]})
    await router.run_once()
    assert await live_ids(couch, alice) == (ALICE_IDS - {"account:cafe-nord", "contact:kari"}) | {
        "order:o-1"
    }
    assert ("assignment_gained", {"user_id": "alice", "doc_ids": ["territory:north"]}) in events
    home = await couch.get(seeded.master, "price_list:std")
    assert (await couch.get(alice, "price_list:std"))["_rev"] == home["_rev"]


async def test_fan_in_carries_only_what_the_user_owns(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    alice, bob = seeded.rep("alice"), seeded.rep("bob")
    await router.run_once()
    mine = await put_rev(couch, alice, sample("order"), "1-" + "b" * 32)
    await put_rev(couch, alice, sample("order", **{"_id": "order:o-9"}, rep_id="carol"),
                  "1-" + "c" * 32)  # fmt: skip
    await put_rev(couch, alice, sample("product", name="Hacked"), "2-" + "d" * 32,
                  (await couch.get(alice, "product:SKU-1"))["_rev"])  # fmt: skip
    note = await put_rev(couch, bob, sample("visit_note", **{"_id": "visit_note:vn-2"}),
                         "1-" + "e" * 32)  # fmt: skip
    await router.run_once()
    assert (await couch.get(seeded.orders, "order:o-1"))["_rev"] == mine["_rev"]
    assert await couch.get_or_none(seeded.orders, "order:o-9") is None
    assert (await couch.get(seeded.master, "product:SKU-1"))["name"] != "Hacked"
    assert (await couch.get(seeded.field, "visit_note:vn-2"))["_rev"] == note["_rev"]


async def test_reassigning_a_visit_moves_it_and_its_notes(
    couch: CouchClient, seeded: Databases, router: Router, events: Events
) -> None:
    await couch.create_db(seeded.rep("erin"))
    await router.run_once()
    visit = await couch.get(seeded.field, "visit:v-1")
    await couch.put(seeded.field, {**visit, "assignee_id": "erin"})
    await router.run_once()
    bob = await live_ids(couch, seeded.rep("bob"))
    assert "visit:v-1" not in bob
    assert {"visit_note:vn-1", "work_order:wo-1", "account:sor"} <= bob  # he wrote the note
    erin = await live_ids(couch, seeded.rep("erin"))
    assert {"visit:v-1", "visit_note:vn-1", "account:sor", "contact:sven"} <= erin
    # bob's tombstone did not reach fs_field
    assert (await couch.get(seeded.field, "visit:v-1"))["assignee_id"] == "erin"
    assert ("assignment_lost", {"user_id": "bob", "doc_ids": ["visit:v-1"]}) in events


async def test_a_back_office_edit_reaches_the_rep_db_live(
    couch: CouchClient, seeded: Databases, router: Router, events: Events
) -> None:
    alice = seeded.rep("alice")
    await put_rev(couch, seeded.orders, sample("order", status="submitted"), "1-" + "f" * 32)
    task = asyncio.create_task(router.run())
    try:
        await wait_until(lambda: couch.get_or_none(alice, "order:o-1"), message="order fan-out")
        current = await couch.get(seeded.orders, "order:o-1")
        started = time.monotonic()
        new_rev = (await couch.put(seeded.orders, {**current, "status": "confirmed"}))["rev"]

        async def arrived() -> bool:
            doc = await couch.get_or_none(alice, "order:o-1")
            return doc is not None and doc["_rev"] == new_rev

        await wait_until(arrived, timeout=5, interval=0.01, message="confirmation in rep_alice")
        assert time.monotonic() - started < 1.0
        await wait_until(lambda: any(p["doc"].get("status") == "confirmed"
                                     for k, p in events if k == "order_changed"))  # fmt: skip
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_conflict_travels_as_the_same_two_leaves(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    base = "1-" + "0" * 32
    await put_rev(couch, seeded.orders, sample("order"), base)
    await put_rev(couch, seeded.orders, sample("order", note="rep"), "2-" + "1" * 32, base)
    await put_rev(couch, seeded.orders, sample("order", status="submitted"), "2-" + "2" * 32, base)
    await router.run_once()
    expected = {"2-" + "1" * 32, "2-" + "2" * 32}
    assert await leaves(couch, seeded.orders, "order:o-1") == expected
    assert await leaves(couch, seeded.rep("alice"), "order:o-1") == expected


async def test_its_own_copies_are_not_read_back_but_a_device_edit_on_top_is(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    """The router skips rows of a rep database that are exactly a revision it copied there
    (its echo), and nothing else: a device's newer revision of that document still fans in."""
    alice = seeded.rep("alice")
    await put_rev(couch, seeded.orders, sample("order", status="submitted"), "1-" + "f" * 32)
    await router.run_once()
    copied = await couch.get(alice, "order:o-1")
    assert router.state.reps["alice"].copied == {}  # read back and forgotten
    # the next copy, not yet read back when the device edits on top of it
    confirmed = await couch.get(seeded.orders, "order:o-1")
    new_rev = (await couch.put(seeded.orders, {**confirmed, "status": "confirmed"}))["rev"]
    await router.run_once()
    assert (await couch.get(alice, "order:o-1"))["_rev"] == new_rev
    seq_orders = (await couch.db_info(seeded.orders))["update_seq"]
    router.state.reps["alice"].copied["order:o-1"] = new_rev
    await router.run_once()  # nothing new but the echo: nothing written to fs_orders
    assert (await couch.db_info(seeded.orders))["update_seq"] == seq_orders
    router.state.reps["alice"].copied["order:o-1"] = new_rev
    mine = await couch.get(alice, "order:o-1")
    edited = (await couch.put(alice, {**mine, "note": "add 2 more"}))["rev"]
    await router.run_once()
    assert (await couch.get(seeded.orders, "order:o-1"))["_rev"] == edited
    assert copied["_rev"] != edited


async def test_a_restart_resumes_from_its_checkpoints_and_writes_nothing(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    await router.run_once()
    await put_rev(couch, seeded.rep("alice"), sample("order"), "1-" + "a" * 32)
    await router.run_once()
    names = [seeded.master, seeded.orders, seeded.field, seeded.rep("alice"), seeded.rep("bob")]
    before = await update_seqs(couch, names)
    again = Router(couch, seeded, on_event=None, page_size=50)
    await again.run_once()
    assert await update_seqs(couch, names) == before
    assert again.state.shared[seeded.master].seq == router.state.shared[seeded.master].seq


async def test_a_router_killed_mid_fan_out_finishes_after_a_restart(
    couch: CouchClient, seeded: Databases
) -> None:
    products = [sample("product", **{"_id": f"product:P{i:05d}"}, sku=f"P{i:05d}")
                for i in range(3000)]  # fmt: skip
    for start in range(0, len(products), 500):
        await couch.bulk_docs(seeded.master, products[start : start + 500])
    alice = seeded.rep("alice")
    first = Router(couch, seeded, on_event=None, page_size=100)
    task = asyncio.create_task(first.run())
    await wait_until(lambda: _count(couch, alice, 300), timeout=60, interval=0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    partial = len(await live_ids(couch, alice))
    assert partial < 3000, "the router finished before it could be killed"

    master_seq = (await couch.db_info(seeded.master))["update_seq"]
    second = Router(couch, seeded, on_event=None, page_size=100)
    await second.run_once()
    assert await live_ids(couch, alice) == ALICE_IDS | {p["_id"] for p in products}
    home = {r["id"]: r["value"]["rev"] for r in (await couch.all_docs(seeded.master))["rows"]}
    there = {r["id"]: r["value"]["rev"] for r in (await couch.all_docs(alice))["rows"]}
    assert {i: there[i] for i in home if i in there} == {i: home[i] for i in there if i in home}
    diff = await couch.revs_diff(alice, {i: [r] for i, r in home.items() if i in there})
    assert diff == {}
    # No new revision anywhere: fs_master was not touched, no rep doc has a second leaf.
    assert (await couch.db_info(seeded.master))["update_seq"] == master_seq
    with_conflicts = await couch.all_docs(alice, include_docs=True, conflicts=True)
    assert [r["id"] for r in with_conflicts["rows"] if r["doc"].get("_conflicts")] == []


async def _count(couch: CouchClient, db: str, at_least: int) -> bool:
    return (await couch.db_info(db))["doc_count"] >= at_least


async def test_rep_databases_created_while_running_are_picked_up(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    task = asyncio.create_task(router.run())
    try:
        await wait_until(lambda: _has(couch, seeded.rep("alice"), ALICE_IDS))
        await couch.create_db(seeded.rep("dave"))  # found by the periodic rescan
        await wait_until(
            lambda: _has(couch, seeded.rep("dave"), {"product:SKU-1", "product:SKU-2"})
        )
        await couch.create_db(seeded.rep("carol"))  # announced through the hook
        await router.add_user_db("carol")
        assert {"territory:south", "account:sor", "contact:sven", "price_list:south"} <= (
            await live_ids(couch, seeded.rep("carol"))
        )
        # and followed from then on: a device write in rep_carol reaches fs_orders
        await put_rev(couch, seeded.rep("carol"), sample("order", **{"_id": "order:c-1"},
                      rep_id="carol"), "1-" + "9" * 32)  # fmt: skip
        router.notify_rep_changed("carol")
        await wait_until(lambda: couch.get_or_none(seeded.orders, "order:c-1"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _has(couch: CouchClient, db: str, ids: set[str]) -> bool:
    try:
        return ids <= await live_ids(couch, db)
    except CouchNotFound:
        return False


async def test_a_document_deleted_at_home_while_the_router_was_down_is_deleted_for_the_rep(
    couch: CouchClient, seeded: Databases, router: Router
) -> None:
    await router.run_once()
    await router.stop()
    kari = await couch.get(seeded.master, "contact:kari")
    await couch.delete(seeded.master, "contact:kari", kari["_rev"])
    north = await couch.get(seeded.master, "territory:south")
    await couch.put(seeded.master, {**north, "rep_ids": ["carol", "alice"]})
    await Router(couch, seeded, on_event=None, page_size=50).run_once()
    assert await live_ids(couch, seeded.rep("alice")) == (ALICE_IDS - {"contact:kari"}) | {
        "territory:south", "account:sor", "contact:sven", "price_list:south"}  # fmt: skip
