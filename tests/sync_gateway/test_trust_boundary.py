"""The trust boundary of issue 12: a device writes only what is its own, judged against the
shared truth. Each attack of the issue is made here the way an attacker would make it (a rep's
own token, the plain replication protocol: a real PouchDB phone where the client matters,
hand-made HTTP where the request is crafted), and each test shows the shared document unchanged.
docs/security.md lists them.

Revision trees are drawn above the tests that build them; ``*`` marks the shared winner.
"""

from __future__ import annotations

from typing import Any

from polling import wait_until
from support.orders_world import order
from support.world import World, add_user

from mobile_schema import sample, sample_order_line
from mobile_schema.money import order_total
from sync_gateway import metrics

FUTURE = "2030-01-01T00:00:00.000Z"
PAST = "2020-01-01T00:00:00.000Z"


def sync_path(world: World, user: str) -> str:
    return f"/sync/{world.dbs.rep(user)}"


def branch(doc: dict[str, Any], rev: str, *parents: str) -> dict[str, Any]:
    """``doc`` at revision ``rev`` with ``parents`` (newest first) as its history."""
    gen = int(rev.split("-", 1)[0])
    ids = [rev.split("-", 1)[1], *(p.split("-", 1)[1] for p in parents)]
    body = {k: v for k, v in doc.items() if k not in ("_rev", "_revisions", "_conflicts")}
    return {**body, "_rev": rev, "_revisions": {"start": gen, "ids": ids}}


def child_rev(parent: str, tag: str) -> str:
    return f"{int(parent.split('-', 1)[0]) + 1}-{tag}"


async def push_raw(
    world: World, user: str, docs: list[dict[str, Any]], *, new_edits: bool = False
) -> list[dict[str, Any]]:
    async with world.http(user) as http:
        resp = await http.post(
            f"{sync_path(world, user)}/_bulk_docs", json={"docs": docs, "new_edits": new_edits}
        )
    assert resp.status_code == 201, resp.text
    result: list[dict[str, Any]] = resp.json()
    return result


async def live_leaves(world: World, db: str, doc_id: str) -> list[dict[str, Any]]:
    rows = await world.couch.open_revs(db, doc_id, "all")
    return [r["ok"] for r in rows if "ok" in r and not r["ok"].get("_deleted")]


async def in_db(world: World, db: str, doc_id: str, rev: str | None = None) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        doc = await world.couch.get_or_none(db, doc_id)
        return doc if doc is not None and (rev is None or doc["_rev"] == rev) else None

    found: dict[str, Any] = await wait_until(probe, timeout=30, message=f"{doc_id} in {db}")
    return found


def refused_counter() -> float:
    return sum(
        s.value
        for m in metrics.ROUTER_FAN_IN_REFUSED.collect()
        for s in m.samples
        if s.name.endswith("_total")
    )


# -- attack 1: taking over another rep's order by its id -----------------------------------


async def test_attack_1_another_reps_order_id_is_refused(world: World, phone: Any) -> None:
    """alice's order o-1 is in fs_orders; carol writes ``order:o-1`` into her own database."""
    alice = world.users["alice"]
    lines = [
        sample_order_line(line_id="l1", sku="SKU-1", qty=3, updated_at="2024-05-01T08:00:00.000Z")
    ]
    await phone.put(order("o-1", lines=lines, status="draft"))
    assert (await phone.push(alice.sync_url, headers=alice.headers))["docs_written"] == 1
    before = await in_db(world, world.dbs.orders, "order:o-1")

    big = [{**lines[0], "qty": 300, "updated_at": FUTURE}]
    takeover = order("o-1", rep="carol", lines=big, status="draft", updated_at=FUTURE)
    async with world.http("carol") as http:
        put = await http.put(f"{sync_path(world, 'carol')}/order:o-1", json=takeover)
    assert put.status_code == 403, put.text
    assert put.json()["error"] == "forbidden"
    assert "belongs to another rep" in put.json()["reason"]

    # the variants: a replicator's push with its own history, quantities by line timestamps,
    # and an empty order that would copy alice's lines into carol's database
    variants = [
        branch(takeover, "1-" + "b" * 32),
        branch(
            order("o-1", rep="carol", lines=big, status="draft", updated_at=PAST), "1-" + "c" * 32
        ),
        branch(order("o-1", rep="carol", lines=[], status="draft"), "1-" + "d" * 32),
    ]
    answers = await push_raw(world, "carol", variants)
    assert [a["error"] for a in answers] == ["forbidden"] * 3, answers

    assert await world.couch.get_or_none(world.dbs.rep("carol"), "order:o-1") is None
    (shared,) = await live_leaves(world, world.dbs.orders, "order:o-1")
    assert shared["_rev"] == before["_rev"]
    assert shared["rep_id"] == "alice" and shared["lines"][0]["qty"] == 3
    await phone.pull(alice.sync_url, headers=alice.headers)
    mine = await phone.get("order:o-1", conflicts=True)
    assert mine["_rev"] == before["_rev"] and "_conflicts" not in mine


async def test_attack_1_written_straight_into_a_rep_db_is_kept_out_by_the_router(
    world: World, phone: Any
) -> None:
    """Defence in depth: what the gateway never saw (an admin's write into rep_carol) does not
    reach fs_orders when its owner is not the shared order's owner; the rest still does."""
    alice = world.users["alice"]
    await phone.put(order("o-2", status="draft"))
    await phone.push(alice.sync_url, headers=alice.headers)
    before = await in_db(world, world.dbs.orders, "order:o-2")
    refused = refused_counter()

    forged = branch(order("o-2", rep="carol", status="draft", updated_at=FUTURE), "1-" + "e" * 32)
    fine = branch(order("c-1", rep="carol", status="draft"), "1-" + "f" * 32)
    await world.couch.bulk_docs(world.dbs.rep("carol"), [forged, fine], new_edits=False)
    await in_db(world, world.dbs.orders, "order:c-1")  # the good one of the batch went on
    await wait_until(lambda: refused_counter() > refused, timeout=30, message="the refusal counted")
    (shared,) = await live_leaves(world, world.dbs.orders, "order:o-2")
    assert shared["_rev"] == before["_rev"] and shared["rep_id"] == "alice"


# -- attack 2: rewriting a confirmed order --------------------------------------------------


async def test_attack_2_a_confirmed_order_cannot_be_rewritten_with_an_unrelated_history(
    world: World, phone: Any
) -> None:
    """
    1-s (submitted) ── 2-c (confirmed, by the back office) *
    999999-cafe02      unrelated history: refused
    3-cafe03           unrelated history, plausible generation: refused
    2-ok               a child of 1-s (an offline edit): accepted, merged later
    """
    alice = world.users["alice"]
    lines = [sample_order_line(line_id="l1", qty=3, unit_price="12.50")]
    await phone.put(order("o-3", lines=lines))
    await phone.push(alice.sync_url, headers=alice.headers)
    submitted = await in_db(world, world.dbs.orders, "order:o-3")
    confirmed = {
        **submitted,
        "status": "confirmed",
        "confirmed_at": "2024-05-01T10:00:00.000Z",
        "lines": [{**lines[0], "confirmed_qty": 3}],
        "updated_by": "max",
    }
    confirmed["_rev"] = (await world.couch.put(world.dbs.orders, confirmed))["rev"]
    await in_db(world, world.dbs.rep("alice"), "order:o-3", confirmed["_rev"])

    rewritten = {
        **confirmed,
        "account_id": "account:elsewhere",
        "lines": [{**confirmed["lines"][0], "qty": 200, "updated_at": FUTURE}],
        "total": order_total([{**confirmed["lines"][0], "qty": 200}]),
        "updated_at": FUTURE,
    }
    # the normal edit was refused before this issue, and still is
    async with world.http("alice") as http:
        put = await http.put(f"{sync_path(world, 'alice')}/order:o-3", json=rewritten)
    assert put.status_code == 403 and "back office" in put.json()["reason"]

    # what the attacker sends: the rep's own submitted body with 200 units and another account
    sneaky = {
        **submitted,
        "account_id": "account:elsewhere",
        "lines": [{**lines[0], "qty": 200, "updated_at": FUTURE}],
        "total": order_total([{**lines[0], "qty": 200}]),
        "updated_at": FUTURE,
    }
    attacks = [
        branch(sneaky, "999999-cafe02"),
        branch(sneaky, "3-cafe03"),
        branch(rewritten, "3-cafe04"),
    ]
    answers = await push_raw(world, "alice", attacks)
    assert [a.get("error") for a in answers] == ["forbidden"] * 3, answers
    assert "generation" in answers[0]["reason"]

    offline = branch(
        {**submitted, "note": "call first", "updated_at": FUTURE},
        child_rev(submitted["_rev"], "0ff11e"),
        submitted["_rev"],
    )
    assert await push_raw(world, "alice", [offline]) == []  # accepted (new_edits=false: no news)

    shared = await world.couch.get(world.dbs.orders, "order:o-3")
    assert shared["status"] == "confirmed" and shared["account_id"] == "account:cafe-nord"
    assert shared["lines"][0]["qty"] == 3
    revs = {r["ok"]["_rev"] for r in await world.couch.open_revs(world.dbs.orders, "order:o-3")}
    assert not revs & {"999999-cafe02", "3-cafe03", "3-cafe04"}


# -- attack 3: undoing a manager's reassignment --------------------------------------------


async def test_attack_3_a_reassigned_visit_cannot_be_taken_back(world: World, phone: Any) -> None:
    """
    1-v (bob) ── 2-m (erin, by the manager) *
             └── 2-b (bob, in_progress, 2030): refused
    """
    bob = world.users["bob"]
    await add_user(world, "erin", "engineer")
    visit = sample("visit", _id="visit:v-3", assignee_id="bob", updated_by="max")
    visit["_rev"] = (await world.couch.put(world.dbs.field, visit))["rev"]
    await in_db(world, world.dbs.rep("bob"), "visit:v-3")
    await phone.pull(bob.sync_url, headers=bob.headers)
    # offline, bob checks in on the phone
    mine = await phone.get("visit:v-3")
    await phone.put(
        {
            **mine,
            "status": "in_progress",
            "check_in": "2024-05-01T09:00:00.000Z",
            "updated_at": FUTURE,
        }
    )
    # meanwhile the manager gives the visit to erin
    moved = {**visit, "assignee_id": "erin", "updated_by": "max"}
    moved["_rev"] = (await world.couch.put(world.dbs.field, moved))["rev"]
    await in_db(world, world.dbs.rep("erin"), "visit:v-3", moved["_rev"])

    result = await phone.push(bob.sync_url, headers=bob.headers)
    assert result["docs_written"] == 0 and result["doc_write_failures"] == 1, result
    assert "assigned to someone else" in str(result.get("denied") or result.get("errors"))
    crafted = branch(
        {**visit, "status": "in_progress", "updated_at": FUTURE, "updated_by": "max"},
        child_rev(visit["_rev"], "b0b"),
        visit["_rev"],
    )
    (answer,) = await push_raw(world, "bob", [crafted])
    assert answer["error"] == "forbidden" and "erin" not in answer["reason"]

    (shared,) = await live_leaves(world, world.dbs.field, "visit:v-3")
    assert shared["_rev"] == moved["_rev"] and shared["assignee_id"] == "erin"
    assert shared["status"] == "planned"


# -- attack 4: jamming the resolver with a huge generation ----------------------------------


async def test_attack_4_implausible_generations_are_refused(world: World, phone: Any) -> None:
    alice = world.users["alice"]
    await phone.put(order("o-4", status="draft"))
    await phone.push(alice.sync_url, headers=alice.headers)
    mine = await in_db(world, world.dbs.orders, "order:o-4")

    jam = branch({**mine, "note": "jam", "updated_at": FUTURE}, "999999999-" + "a" * 32)
    far_child = branch({**mine, "note": "far"}, "1002-" + "b" * 32, "1001-" + "e" * 32)
    new_doc = branch(order("o-new", status="draft"), "999999999-" + "c" * 32)
    answers = await push_raw(world, "alice", [jam, far_child, new_doc])
    assert [a["error"] for a in answers] == ["forbidden"] * 3, answers
    assert all("generation" in a["reason"] for a in answers)

    # within the bound an unrelated branch is still judged by the rules, and here allowed
    near = branch({**mine, "note": "near"}, "5-" + "d" * 32)
    assert await push_raw(world, "alice", [near]) == []
    revs = {r["ok"]["_rev"] for r in await world.couch.open_revs(world.dbs.orders, "order:o-4")}
    assert not any(r.startswith(("999999999-", "1002-")) for r in revs)
    assert (await world.couch.get(world.dbs.orders, "order:o-4"))["rep_id"] == "alice"


# -- attack 5: a deleted draft coming back ---------------------------------------------------


async def test_attack_5_a_deleted_draft_stays_deleted(
    world: World, phone: Any, phone2: Any
) -> None:
    """
    1-d ── 2-x (deleted on the phone) *
       └── 2-p (edited offline on the PDA): refused, the order stays deleted
    """
    alice = world.users["alice"]
    await phone.put(order("o-5", status="draft"))
    await phone.push(alice.sync_url, headers=alice.headers)
    await phone2.pull(alice.sync_url, headers=alice.headers)
    created = await in_db(world, world.dbs.orders, "order:o-5")

    await phone.remove("order:o-5", created["_rev"])
    assert (await phone.push(alice.sync_url, headers=alice.headers))["docs_written"] == 1

    async def deleted_in_orders() -> bool:
        return await world.couch.get_or_none(world.dbs.orders, "order:o-5") is None

    await wait_until(deleted_in_orders, timeout=30, message="the deletion in fs_orders")
    old = await phone2.get("order:o-5")
    await phone2.put({**old, "note": "one more box", "updated_at": FUTURE})
    result = await phone2.push(alice.sync_url, headers=alice.headers)
    assert result["docs_written"] == 0 and result["doc_write_failures"] == 1, result
    assert "was deleted" in str(result.get("denied") or result.get("errors"))

    assert await live_leaves(world, world.dbs.orders, "order:o-5") == []
    assert await live_leaves(world, world.dbs.rep("alice"), "order:o-5") == []
    await phone.pull(alice.sync_url, headers=alice.headers)
    assert await phone.get_or_none("order:o-5") is None

    # a crafted re-creation on top of the deletion is refused the same way
    async with world.http("alice") as http:
        put = await http.put(
            f"{sync_path(world, 'alice')}/order:o-5", json=order("o-5", status="draft")
        )
    assert put.status_code == 403 and "was deleted" in put.json()["reason"]


# -- what must still pass ---------------------------------------------------------------------


async def test_several_offline_edits_of_an_order_confirmed_meanwhile_still_merge(
    world: World, phone: Any
) -> None:
    """
        1-s ── 2-c (confirmed by the back office) *
           └── 2-e1 ── 3-e2 (two offline edits on the phone): accepted, then merged
    The pushed history starts at 3-e2, unknown to the server: its known parent 1-s is found by
    _revs_diff, so the edit is judged as the conflict branch it is.
    """
    alice = world.users["alice"]
    lines = [sample_order_line(line_id="l1", qty=3, unit_price="12.50")]
    await phone.put(order("o-7", lines=lines))
    await phone.push(alice.sync_url, headers=alice.headers)
    submitted = await in_db(world, world.dbs.orders, "order:o-7")
    await world.couch.put(
        world.dbs.orders,
        {**submitted, "status": "confirmed", "confirmed_at": "2024-05-01T10:00:00.000Z"},
    )
    one = await phone.get("order:o-7")
    one = {**one, "note": "first", "_rev": (await phone.put({**one, "note": "first"}))["rev"]}
    await phone.put({**one, "note": "second", "updated_at": FUTURE})
    result = await phone.push(alice.sync_url, headers=alice.headers)
    assert result["docs_written"] == 1 and result["doc_write_failures"] == 0, result

    async def merged() -> dict[str, Any] | None:
        doc = await world.couch.get(world.dbs.orders, "order:o-7", conflicts=True)
        return doc if doc.get("updated_by") == "resolver" and not doc.get("_conflicts") else None

    doc = await wait_until(merged, timeout=60, message="the merge")
    assert doc["status"] == "confirmed" and doc["note"] == "second"


# -- audit: who pushed a revision ------------------------------------------------------------


async def test_the_pusher_is_recorded_whatever_updated_by_says(world: World) -> None:
    """
    1-a (alice) ── 2-x (alice, updated_by "max")
               └── 2-y (alice)            -> merged by the resolver
    """
    first = branch(order("o-6", status="draft", updated_by="max"), "1-" + "a" * 32)
    assert await push_raw(world, "alice", [first]) == []
    await in_db(world, world.dbs.orders, "order:o-6")
    pushes = world.couch
    record = await wait_until(
        lambda: pushes.get_or_none(world.dbs.ops, f"push:order:o-6:{first['_rev']}"),
        timeout=30,
        message="the push record",
    )
    assert record["pushed_by"] == "alice" and record["claimed_updated_by"] == "max"
    assert record["db"] == world.dbs.orders

    x = branch({**first, "note": "x", "updated_by": "max"}, "2-" + "b" * 32, first["_rev"])
    y = branch({**first, "note": "y", "updated_at": FUTURE}, "2-" + "c" * 32, first["_rev"])
    assert await push_raw(world, "alice", [x, y]) == []

    async def conflict_records() -> list[dict[str, Any]]:
        async with world.http("max") as http:
            resp = await http.get("/api/v1/conflicts", params={"doc_type": "order"})
        return [r for r in resp.json()["records"] if r["doc_id"] == "order:o-6"]

    (conflict,) = await wait_until(conflict_records, timeout=60, message="the conflict record")
    assert conflict["pushed_by"] == {x["_rev"]: "alice", y["_rev"]: "alice"}


async def test_refusals_do_not_sink_the_batch_and_read_the_truth_once(world: World) -> None:
    """One crafted batch mixing refused and good documents: the good ones are stored."""
    await world.couch.put(world.dbs.orders, order("theirs", rep="carol"))
    docs = [
        branch(order("theirs", rep="alice"), "1-" + "9" * 32),
        branch(order("mine-1"), "1-" + "8" * 32),
        branch(order("mine-2"), "1-" + "7" * 32),
    ]
    answers = await push_raw(world, "alice", docs)
    assert [a["id"] for a in answers] == ["order:theirs"]
    stored = await world.couch.all_docs(world.dbs.rep("alice"))
    assert [r["id"] for r in stored["rows"]] == ["order:mine-1", "order:mine-2"]
