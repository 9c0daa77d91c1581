"""The copier's view of what a target lacks, against the real store."""

from __future__ import annotations

from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
from sync_gateway.router.copier import Copier

A1 = "1-" + "a" * 32
A2 = "2-" + "b" * 32
B2 = "2-" + "c" * 32


async def test_missing_given_asks_only_about_documents_the_target_has(
    couch: CouchClient, dbs: Databases
) -> None:
    target = dbs.rep("copier")
    await couch.create_db(target)
    leaf = {
        "_id": "order:known",
        "_rev": A2,
        "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]},
    }
    await couch.bulk_docs(target, [leaf], new_edits=False)
    copier = Copier(couch)
    revs = {
        "order:new": [A1],  # the target never saw it
        "order:known": [A2],  # its winner
        "order:edited": [A1],  # unknown id too
    }
    known = await copier.states(target, revs, include_docs=True)
    assert set(known) == {"order:known"}
    assert await copier.missing_given(target, revs, known) == {
        "order:new": [A1],
        "order:edited": [A1],
    }
    # a revision beside the winner (a conflict branch from the same parent): asked, and lacking
    branch = {"order:known": [B2]}
    assert await copier.missing_given(target, branch, known) == {"order:known": [B2]}
    # an ancestor of the winner is asked too (whether a bodiless ancestor counts as had is
    # the store's call: PouchDB Server says missing, CouchDB not)
    ancestor = {"order:known": [A1]}
    assert await copier.missing_given(target, ancestor, known) == await copier.missing(
        target, ancestor
    )
    # the same answers as _revs_diff for everything
    everything = {**revs, **branch}
    assert await copier.missing_given(target, everything, known) == await copier.missing(
        target, everything
    )
