"""What truth.py reads of the shared truth for one pushed batch, against the real server."""

from __future__ import annotations

from typing import Any

from mobile_schema.samples import sample
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
from sync_gateway.truth import read_truth


async def _deleted(couch: CouchClient, db: str, doc: dict[str, Any]) -> str:
    rev = (await couch.put(db, doc))["rev"]
    return str((await couch.put(db, {"_id": doc["_id"], "_rev": rev, "_deleted": True}))["rev"])


async def test_each_databases_winner_is_read_live_deleted_or_absent(
    couch: CouchClient, dbs: Databases
) -> None:
    """Live winners come with their bodies, deleted ones with their revision (the generation
    rule and "a deleted document stays deleted" need it), absent ids not at all; a referenced
    account counts as visible only when it is live in the user's database.

    (Why the winners come from ``_all_docs?keys=`` although ``_bulk_get`` of bare ids is twice
    as fast on PouchDB Server: there it answers ``{}`` for a deleted id and a missing one alike,
    and this test then fails on the deleted order.)"""
    rep = dbs.rep("alice")
    for db in (rep, dbs.orders):
        await couch.create_db(db)
    live = sample("order", _id="order:live", rep_id="alice")
    live_rev = (await couch.put(dbs.orders, live))["rev"]
    gone_rev = await _deleted(couch, dbs.orders, sample("order", _id="order:gone", rep_id="alice"))
    mine_rev = (await couch.put(rep, sample("order", _id="order:mine", rep_id="alice")))["rev"]
    await couch.put(rep, sample("account", _id="account:a-1"))
    await _deleted(couch, rep, sample("account", _id="account:a-2"))

    pushed = [
        sample("order", _id=f"order:{name}", rep_id="alice")
        for name in ("live", "gone", "mine", "new")
    ]
    truth = await read_truth(
        couch, dbs, rep, [(d, []) for d in pushed], ["account:a-1", "account:a-2", "account:a-3"]
    )

    at_home = truth.winners[(dbs.orders, "order:live")]
    assert (at_home.rev, at_home.deleted, at_home.doc["rep_id"]) == (live_rev, False, "alice")
    assert truth.winners[(dbs.orders, "order:gone")] == type(at_home)(gone_rev, True, None)
    assert truth.winners[(rep, "order:mine")].rev == mine_rev
    assert (dbs.orders, "order:new") not in truth.winners
    assert (rep, "order:new") not in truth.winners
    assert truth.visible == {"order:mine", "account:a-1"}
    standing = truth.standing("order:gone")
    assert standing.deleted and standing.current is None
    assert standing.known_generation == 2
    assert truth.standing("order:new").known_generation == 0


async def test_a_deleted_winner_with_a_live_conflict_reads_as_live(
    couch: CouchClient, dbs: Databases
) -> None:
    """CouchDB's winner is a live leaf whenever one exists: a document with a deleted branch and
    a live one is live, whichever branch is longer."""
    for db in (dbs.rep("alice"), dbs.orders):
        await couch.create_db(db)
    base = sample("order", _id="order:two", rep_id="alice")
    await couch.bulk_docs(
        dbs.orders,
        [
            {
                **base,
                "_rev": "2-" + "a" * 32,
                "_revisions": {"start": 2, "ids": ["a" * 32, "0" * 32]},
            },
            {
                "_id": base["_id"],
                "_rev": "3-" + "b" * 32,
                "_deleted": True,
                "_revisions": {"start": 3, "ids": ["b" * 32, "c" * 32, "0" * 32]},
            },
        ],
        new_edits=False,
    )
    truth = await read_truth(couch, dbs, dbs.rep("alice"), [(base, [])])
    winner = truth.winners[(dbs.orders, "order:two")]
    assert (winner.rev, winner.deleted) == ("2-" + "a" * 32, False)
    assert winner.doc is not None and winner.doc["rep_id"] == "alice"
