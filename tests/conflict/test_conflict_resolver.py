"""The resolver against PouchDB Server (or COUCHDB_URL) through the CouchDB conflict store.

Leaves are written the way the router writes what devices pushed: ``_bulk_docs`` with
``new_edits: false`` and an explicit ``_revisions`` history, so each test draws its tree.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from polling import wait_until

from conflict.records import notification_id, record_id
from conflict.resolver import Resolution, Resolver
from mobile_schema import ConflictRecord, Notification, sample
from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases
from sync_gateway.provenance import push_record

T0 = "2024-05-01T08:00:00.000Z"
T1 = "2024-05-01T09:00:00.000Z"
T2 = "2024-05-01T10:00:00.000Z"


@pytest.fixture
async def store(couch: CouchClient, dbs: Databases) -> AsyncIterator[CouchConflictStore]:
    await ensure_databases(couch, dbs)
    await couch.create_db(dbs.rep("alice"))
    await couch.create_db(dbs.rep("bob"))
    yield CouchConflictStore(couch, dbs)


def resolver(store: CouchConflictStore, dbs: Databases, **kwargs: Any) -> Resolver:
    return Resolver(store, [dbs.orders, dbs.field], **kwargs)


def rev(gen: int, tag: str) -> str:
    return f"{gen}-{hashlib.md5(tag.encode()).hexdigest()}"


def with_history(body: dict[str, Any], *revs: str) -> dict[str, Any]:
    """``body`` as revision ``revs[0]`` whose ancestors are ``revs[1:]`` (newest first)."""
    start = int(revs[0].split("-")[0])
    ids = [r.split("-", 1)[1] for r in revs]
    return {**body, "_rev": revs[0], "_revisions": {"start": start, "ids": ids}}


async def write(couch: CouchClient, db: str, *docs: dict[str, Any]) -> None:
    answers = await couch.bulk_docs(db, list(docs), new_edits=False)
    assert not [a for a in answers if a.get("error")], answers


async def live_leaves(couch: CouchClient, db: str, doc_id: str) -> list[dict[str, Any]]:
    rows = await couch.open_revs(db, doc_id, "all")
    return [r["ok"] for r in rows if "ok" in r and not r["ok"].get("_deleted")]


def line(line_id: str, qty: int, updated_at: str, price: str = "10.00") -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": f"SKU-{line_id}",
        "qty": qty,
        "unit_price": price,
        "discount_pct": 0,
        "confirmed_qty": None,
        "deleted": False,
        "updated_at": updated_at,
    }


def order(lines: list[dict[str, Any]], updated_at: str, **fields: Any) -> dict[str, Any]:
    return sample(
        "order",
        _id="order:o-1",
        rep_id="alice",
        lines=lines,
        total=f"{sum(x['qty'] * 10 for x in lines if not x['deleted']):.2f}",
        updated_at=updated_at,
        updated_by="alice",
        **fields,
    )


B0, A2, B2 = rev(1, "base"), rev(2, "phone"), rev(2, "pda")


async def two_device_order(couch: CouchClient, dbs: Databases, same_line: bool) -> None:
    """
    1-base (l1 qty 1)  ── 2-phone (T1: adds l2, or sets l1 qty 2)
                      └── 2-pda   (T2: sets l1 qty 5)
    """
    base = order([line("l1", 1, T0)], T0)
    phone_lines = [line("l1", 2, T1)] if same_line else [line("l1", 1, T0), line("l2", 3, T1)]
    await write(
        couch,
        dbs.orders,
        with_history(base, B0),
        with_history(order(phone_lines, T1), A2, B0),
        with_history(order([line("l1", 5, T2)], T2), B2, B0),
    )


async def test_orders_on_two_devices_merge_into_one_leaf(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    await two_device_order(couch, dbs, same_line=False)
    done = await resolver(store, dbs).run_once()

    assert [(r.db, r.doc_id) for r in done] == [(dbs.orders, "order:o-1")]
    (leaf,) = await live_leaves(couch, dbs.orders, "order:o-1")
    assert leaf["_rev"] == done[0].merged_rev and leaf["_rev"].startswith("3-")
    assert {(x["line_id"], x["qty"]) for x in leaf["lines"]} == {("l1", 5), ("l2", 3)}
    assert leaf["total"] == "80.00"  # recomputed: 5*10 + 3*10
    # the winner (CouchDB's) is the parent; the other leaf got a tombstone
    assert leaf["_revisions"]["ids"][1] in (A2.split("-")[1], B2.split("-")[1])
    current = await couch.get(dbs.orders, "order:o-1", conflicts=True)
    assert "_conflicts" not in current
    record = await couch.get(dbs.ops, record_id("order:o-1", leaf["_rev"]))
    ConflictRecord.model_validate(record)
    assert record["leaves"] == sorted([A2, B2]) and record["strategy"] == "order_merge"
    assert record["overridden"] == [] and record["user_ids"] == []
    # nothing overridden: nobody is told
    told = notification_id("order:o-1", leaf["_rev"])
    assert await couch.get_or_none(dbs.rep("alice"), told) is None


async def test_same_line_keeps_the_later_edit_records_and_notifies(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    await two_device_order(couch, dbs, same_line=True)
    records: list[dict[str, Any]] = []
    done = await resolver(store, dbs, on_resolved=records.append).run_once()

    (leaf,) = await live_leaves(couch, dbs.orders, "order:o-1")
    assert [(x["line_id"], x["qty"]) for x in leaf["lines"]] == [("l1", 5)]
    record = await couch.get(dbs.ops, record_id("order:o-1", leaf["_rev"]))
    assert [(o["what"], o["lost_value"]["qty"]) for o in record["overridden"]] == [("lines[l1]", 2)]
    assert record["user_ids"] == ["alice"]
    assert [r["_id"] for r in records] == [record["_id"]]
    assert done[0].notified == ("alice",)
    note = await couch.get(dbs.rep("alice"), notification_id("order:o-1", leaf["_rev"]))
    Notification.model_validate(note)
    assert note["kind"] == "conflict_overridden" and note["user_id"] == "alice"
    assert note["data"]["conflict_record_id"] == record["_id"]
    assert "lines[l1]" in note["body"]


async def test_running_again_changes_nothing(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    await two_device_order(couch, dbs, same_line=True)
    first = resolver(store, dbs)
    assert len(await first.run_once()) == 1
    seqs = [(await couch.db_info(db))["update_seq"] for db in dbs.shared]
    assert await first.sweep() == []
    assert await resolver(CouchConflictStore(couch, dbs), dbs).sweep() == []
    assert await first.resolve(dbs.orders, "order:o-1") is None
    # only the checkpoints (_local, no update_seq) may have moved
    assert [(await couch.db_info(db))["update_seq"] for db in dbs.shared] == seqs


async def test_two_resolvers_at_once_write_the_same_revisions(
    couch: CouchClient, dbs: Databases
) -> None:
    await ensure_databases(couch, dbs)
    await couch.create_db(dbs.rep("alice"))
    await two_device_order(couch, dbs, same_line=True)
    one = resolver(CouchConflictStore(couch, dbs), dbs)
    two = resolver(CouchConflictStore(couch, dbs), dbs)

    a, b = await asyncio.gather(
        one.resolve(dbs.orders, "order:o-1"), two.resolve(dbs.orders, "order:o-1")
    )

    # Either both merged (same revision) or the second found nothing left to do.
    results = [r for r in (a, b) if isinstance(r, Resolution)]
    assert results and len({r.merged_rev for r in results}) == 1
    assert sum(r.record_created for r in results) == 1
    leaves = await live_leaves(couch, dbs.orders, "order:o-1")
    assert [x["_rev"] for x in leaves] == [results[0].merged_rev]
    all_revs = await couch.open_revs(dbs.orders, "order:o-1", "all")
    # 1 merged leaf + 1 tombstone: nothing new branched off
    assert len(all_revs) == 2
    found = await couch.all_docs(dbs.ops, startkey="conflict_record:", endkey="conflict_record;")
    assert len(found["rows"]) == 1


async def test_many_conflicts_two_resolvers_sweeping_together(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    docs = []
    for i in range(20):
        base = {**order([line("l1", 1, T0)], T0), "_id": f"order:o-{i}"}
        docs += [
            with_history(base, B0),
            with_history({**base, "note": f"phone {i}", "updated_at": T1}, A2, B0),
            with_history({**base, "lines": [line("l1", 4, T2)], "total": "40.00"}, B2, B0),
        ]
    await write(couch, dbs.orders, *docs)

    first, second = await asyncio.gather(
        resolver(store, dbs).sweep(), resolver(CouchConflictStore(couch, dbs), dbs).sweep()
    )

    assert len({r.doc_id for r in first + second}) == 20
    for i in range(20):
        (leaf,) = await live_leaves(couch, dbs.orders, f"order:o-{i}")
        assert leaf["note"] == f"phone {i}" and leaf["lines"][0]["qty"] == 4
        assert len(await couch.open_revs(dbs.orders, f"order:o-{i}", "all")) == 2


def visit_note(text: str, updated_at: str, **fields: Any) -> dict[str, Any]:
    return sample(
        "visit_note",
        _id="visit_note:vn-1",
        author_id="bob",
        text=text,
        checklist=[],
        updated_at=updated_at,
        updated_by="bob",
        **fields,
    )


async def test_visit_note_three_way_merge_with_the_ancestor(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    """
    1-base "a\\nb\\nc" ── 2-phone "A\\nb\\nc"
                       └── 2-pda   "a\\nb\\nC"
    """
    await write(
        couch,
        dbs.field,
        with_history(visit_note("a\nb\nc", T0), B0),
        with_history(visit_note("A\nb\nc", T1), A2, B0),
        with_history(visit_note("a\nb\nC", T2), B2, B0),
    )
    await resolver(store, dbs).run_once()
    (leaf,) = await live_leaves(couch, dbs.field, "visit_note:vn-1")
    assert leaf["text"] == "A\nb\nC"


async def test_visit_note_without_the_ancestor_keeps_both_texts(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    """
    (1-base: in the tree, body gone as after compaction) ── 2-phone "Pump replaced."
                                                         └── 2-pda   "Filter cleaned."
    """
    await write(
        couch,
        dbs.field,
        with_history(visit_note("Pump replaced.", T1), A2, B0),
        with_history(visit_note("Filter cleaned.", T2), B2, B0),
    )
    assert await store.get_ancestor(dbs.field, "visit_note:vn-1", B0, []) is None
    await resolver(store, dbs).run_once()
    (leaf,) = await live_leaves(couch, dbs.field, "visit_note:vn-1")
    assert "Pump replaced." in leaf["text"] and "Filter cleaned." in leaf["text"]
    assert leaf["text"].index("Pump") < leaf["text"].index("Filter")  # oldest writer first


async def carried_in_without_the_base(
    couch: CouchClient, dbs: Databases, pushed_from: dict[str, str]
) -> None:
    """The note's base and both edits in the rep databases; fs_field got only the two edits,
    as the fan-in carries leaves (``pushed_from``: {leaf rev: rep database}, the push records).
    """
    base = with_history(visit_note("a\nb\nc", T0), B0)
    phone = with_history(visit_note("A\nb\nc", T1), A2, B0)
    pda = with_history(visit_note("a\nb\nC", T2), B2, B0)
    for leaf in (phone, pda):
        await write(couch, pushed_from[leaf["_rev"]], base, leaf)
    await write(couch, dbs.field, phone, pda)
    records = [
        push_record(leaf, db=dbs.field, from_db=pushed_from[leaf["_rev"]], user_id="x", at=T2)
        for leaf in (phone, pda)
    ]
    await couch.bulk_docs(dbs.ops, records)


async def test_the_base_the_fan_in_never_carried_is_read_from_the_pushers_database(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    """Both edits pushed from bob's database, which holds the base: a three-way merge."""
    rep = dbs.rep("bob")
    await carried_in_without_the_base(couch, dbs, {A2: rep, B2: rep})
    assert await couch.get_or_none(dbs.field, "visit_note:vn-1", rev=B0) is None
    await resolver(store, dbs).run_once()
    (leaf,) = await live_leaves(couch, dbs.field, "visit_note:vn-1")
    assert leaf["text"] == "A\nb\nC"


async def test_a_base_from_two_users_databases_is_not_trusted(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    """Leaves pushed from two rep databases: neither may supply the base the other's edit is
    judged against, so the merge goes without one and keeps both texts."""
    await carried_in_without_the_base(couch, dbs, {A2: dbs.rep("alice"), B2: dbs.rep("bob")})
    assert await store.get_ancestor(dbs.field, "visit_note:vn-1", B0, [A2, B2]) is None
    await resolver(store, dbs).run_once()
    (leaf,) = await live_leaves(couch, dbs.field, "visit_note:vn-1")
    assert "A\nb\nc" in leaf["text"] and "a\nb\nC" in leaf["text"]


async def test_visit_note_photos_are_the_union(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    """
    1-base (no photo) ── 2-phone + before.jpg
                      └── 2-pda   + after.jpg, and a different before.jpg
    """
    photos = {"before-phone": b"\xff\xd8phone-before", "after": b"\xff\xd8pda-after"}
    photos["before-pda"] = b"\xff\xd8pda-before"

    def inline(data: bytes) -> dict[str, Any]:
        return {"content_type": "image/jpeg", "data": base64.b64encode(data).decode()}

    await write(
        couch,
        dbs.field,
        with_history(visit_note("t", T0), B0),
        with_history(
            {**visit_note("t", T1), "_attachments": {"before.jpg": inline(photos["before-phone"])}},
            A2,
            B0,
        ),
        with_history(
            {
                **visit_note("t", T2),
                "_attachments": {
                    "after.jpg": inline(photos["after"]),
                    "before.jpg": inline(photos["before-pda"]),
                },
            },
            B2,
            B0,
        ),
    )
    (done,) = await resolver(store, dbs).run_once()
    (leaf,) = await live_leaves(couch, dbs.field, "visit_note:vn-1")
    assert sorted(leaf["_attachments"]) == ["after.jpg", "before (2).jpg", "before.jpg"]
    got = {
        name: await store.get_attachment(dbs.field, "visit_note:vn-1", name, leaf["_rev"])
        for name in leaf["_attachments"]
    }
    assert sorted(got.values()) == sorted(photos.values())
    assert done.record["strategy"] == "visit_note_merge"


async def test_the_worker_follows_the_feed_and_checkpoints(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    records: list[dict[str, Any]] = []
    worker = resolver(store, dbs, on_resolved=records.append, wait_s=1.0)
    task = asyncio.create_task(worker.run())
    try:
        await two_device_order(couch, dbs, same_line=False)
        await wait_until(lambda: records, timeout=30, message="the conflict resolved")

        async def one_leaf() -> bool:  # on_resolved comes just before the merge is written
            return len(await live_leaves(couch, dbs.orders, "order:o-1")) == 1

        await wait_until(one_leaf, timeout=30, message="the merge written")
        await wait_until(
            lambda: store.load_checkpoint(dbs.orders), timeout=30, message="a checkpoint"
        )
    finally:
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_busy_feed_without_conflicts_is_not_checkpointed_per_change(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    """A back office confirming orders one by one must not cost a checkpoint write each; a
    conflict is checkpointed as soon as it is resolved."""
    records: list[dict[str, Any]] = []
    worker = resolver(store, dbs, on_resolved=records.append, wait_s=1.0, checkpoint_every_s=60)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.5)  # following the feed
        for i in range(15):
            await couch.put(dbs.orders, {"_id": f"order:plain-{i}", "type": "order"})
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        plain = await couch.get_local(dbs.ops, f"resolver-checkpoint:{dbs.orders}")
        writes = 0 if plain is None else int(plain["_rev"].split("-")[1])  # _local: "0-<n>"
        assert writes <= 1, f"{writes} checkpoint writes for 15 plain changes"
        await two_device_order(couch, dbs, same_line=False)
        await wait_until(lambda: records, timeout=30, message="the conflict resolved")

        async def moved() -> bool:
            doc = await couch.get_local(dbs.ops, f"resolver-checkpoint:{dbs.orders}")
            return doc is not None and (plain is None or doc["_rev"] != plain["_rev"])

        await wait_until(moved, timeout=30, message="a checkpoint after the conflict")
    finally:
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_records_are_listed_newest_first_with_filters(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    for i, (user, doc_type) in enumerate(
        [("alice", "order"), ("bob", "visit_note"), ("alice", "visit_note"), ("carol", "order")]
    ):
        await couch.put(
            dbs.ops,
            sample(
                "conflict_record",
                _id=f"conflict_record:r{i}",
                doc_id=f"{doc_type}:x{i}",
                doc_type=doc_type,
                user_ids=[user],
                updated_at=f"2024-05-0{i + 1}T00:00:00.000Z",
            ),
        )

    async def ids(**kwargs: Any) -> list[str]:
        return [r["_id"].split(":")[1] for r in await store.list_records(**kwargs)]

    assert await ids() == ["r3", "r2", "r1", "r0"]
    assert await ids(user_id="alice") == ["r2", "r0"]
    assert await ids(doc_type="order") == ["r3", "r0"]
    assert await ids(user_id="alice", doc_type="visit_note") == ["r2"]
    assert await ids(since="2024-05-02T00:00:00.000Z") == ["r3", "r2", "r1"]
    page = await store.list_records(limit=2)
    assert [r["_id"] for r in page] == ["conflict_record:r3", "conflict_record:r2"]
    last = page[-1]
    assert await ids(before=(last["updated_at"], last["_id"]), limit=2) == ["r1", "r0"]


async def test_an_implausible_generation_is_closed_and_the_shared_winner_kept(
    couch: CouchClient, dbs: Databases, store: CouchConflictStore
) -> None:
    """
    1-base ── 2-phone (alice's order, qty 2)        999999999-cafe02 (qty 200, unrelated)

    A child of 999999999-... would be generation 10^9, no valid revision id: the resolver
    closes that leaf, records it, keeps 2-phone, and a second pass finds nothing to do.
    """
    absurd = "999999999-cafe02"
    await write(
        couch,
        dbs.orders,
        with_history(order([line("l1", 1, T0)], T0), B0),
        with_history(order([line("l1", 2, T1)], T1), A2, B0),
        with_history(order([line("l1", 200, T2)], T2), absurd),
    )
    (done,) = await resolver(store, dbs).run_once()
    assert done.merged_rev == A2 and done.record["strategy"] == "kept_shared_winner"
    (leaf,) = await live_leaves(couch, dbs.orders, "order:o-1")
    assert leaf["_rev"] == A2 and leaf["lines"][0]["qty"] == 2
    record = await couch.get(dbs.ops, record_id("order:o-1", A2))
    ConflictRecord.model_validate(record)
    assert absurd in record["leaves"] and record["user_ids"] == ["alice"]
    assert any(o["what"] == "lines" for o in record["overridden"])
    assert await resolver(store, dbs).sweep() == []
