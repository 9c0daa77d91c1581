"""The CouchDB building blocks (sync_gateway/couch/blocks.py) against a real server.

A "concurrent writer" is a second client (another process's connection) writing the document
between a round's read and its write: the write then gets CouchDB's own 409.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sync_gateway.couch import (
    CheckpointStore,
    CouchClient,
    CouchConflict,
    CouchConflictExhausted,
    ensure_design,
    update_many_with_retry,
    update_with_retry,
)
from sync_gateway.databases import Databases

Doc = dict[str, Any]


@pytest.fixture
async def db(couch: CouchClient, dbs: Databases) -> str:
    await couch.create_db(dbs.ops)
    return dbs.ops


@pytest.fixture
async def other(couch_url: str) -> AsyncIterator[CouchClient]:
    """A second client: another process writing the same documents."""
    client = CouchClient(couch_url)
    yield client
    await client.aclose()


async def bump(client: CouchClient, db: str, doc_id: str, field: str) -> None:
    doc = await client.get(db, doc_id)
    doc[field] = doc.get(field, 0) + 1
    await client.put(db, doc)


# -- update_with_retry ------------------------------------------------------------------------


async def test_update_retries_on_top_of_a_concurrent_write(
    couch: CouchClient, other: CouchClient, db: str
) -> None:
    await couch.put(db, {"_id": "user:ana", "name": "Ana"})
    seen: list[Doc | None] = []

    async def rename(doc: Doc | None) -> Doc | None:
        assert doc is not None
        seen.append(dict(doc))
        if len(seen) == 1:  # someone else writes between our read and our write
            await bump(other, db, "user:ana", "logins")
        doc["name"] = "Ana Rep"
        return doc

    updated = await update_with_retry(couch, db, "user:ana", rename)

    assert updated.written and not updated.created
    assert len(seen) == 2 and seen[1]["logins"] == 1  # the second round read their write
    stored = await couch.get(db, "user:ana")
    assert stored == updated.doc
    assert stored["name"] == "Ana Rep" and stored["logins"] == 1  # neither change lost
    assert stored["_rev"].startswith("3-")


async def test_concurrent_updates_all_land(couch: CouchClient, other: CouchClient, db: str) -> None:
    await couch.put(db, {"_id": "counter", "n": 0})

    def inc(doc: Doc | None) -> Doc | None:
        assert doc is not None
        doc["n"] += 1
        return doc

    await asyncio.gather(
        *(update_with_retry(c, db, "counter", inc, attempts=50) for c in [couch, other] * 5)
    )
    assert (await couch.get(db, "counter"))["n"] == 10


async def test_update_raises_a_409_when_it_keeps_losing(
    couch: CouchClient, other: CouchClient, db: str
) -> None:
    await couch.put(db, {"_id": "device:ana:p", "fcm_token": "t"})
    rounds = 0

    async def clear(doc: Doc | None) -> Doc | None:
        nonlocal rounds
        rounds += 1
        await bump(other, db, "device:ana:p", "pulls")  # the device writes every time
        assert doc is not None
        doc["fcm_token"] = None
        return doc

    with pytest.raises(CouchConflictExhausted) as err:
        await update_with_retry(couch, db, "device:ana:p", clear, attempts=3)

    assert rounds == 3
    assert isinstance(err.value, CouchConflict) and err.value.status == 409
    assert err.value.doc_id == "device:ana:p" and "changed 3 times" in err.value.reason
    stored = await couch.get(db, "device:ana:p")
    assert stored["fcm_token"] == "t" and stored["pulls"] == 3  # only theirs was written


async def test_update_creates_leaves_alone_deletes_and_aborts(couch: CouchClient, db: str) -> None:
    created = await update_with_retry(couch, db, "server:identity", lambda d: d or {"uuid": "u1"})
    assert created.written and created.created
    assert (await couch.get(db, "server:identity"))["uuid"] == "u1"

    kept = await update_with_retry(couch, db, "server:identity", lambda d: None)
    assert not kept.written and kept.doc is not None and kept.doc["_rev"].startswith("1-")

    class Refused(Exception):
        pass

    def refuse(doc: Doc | None) -> Doc | None:
        raise Refused

    with pytest.raises(Refused):
        await update_with_retry(couch, db, "server:identity", refuse)
    assert (await couch.get(db, "server:identity"))["_rev"].startswith("1-")

    gone = await update_with_retry(couch, db, "server:identity", lambda d: {"_deleted": True})
    assert gone.written
    assert await couch.get_or_none(db, "server:identity") is None
    missing = await update_with_retry(couch, db, "server:identity", lambda d: None)
    assert missing.doc is None and not missing.written


# -- update_many_with_retry ---------------------------------------------------------------------


async def test_update_many_redoes_only_the_documents_that_conflicted(
    couch: CouchClient, other: CouchClient, db: str
) -> None:
    await couch.bulk_docs(db, [{"_id": "a", "v": 0}, {"_id": "b", "v": 0}])
    calls: list[str] = []

    async def change(doc_id: str, doc: Doc | None) -> Doc | None:
        calls.append(doc_id)
        if doc_id == "b" and calls.count("b") == 1:
            await bump(other, db, "b", "theirs")
        if doc_id == "c":
            return None
        return {**(doc or {}), "v": 1}

    rows = await update_many_with_retry(couch, db, ["a", "b", "c", "d"], change)

    assert calls == ["a", "b", "c", "d", "b"]
    assert rows["a"]["ok"] and rows["a"]["rev"].startswith("2-")
    assert rows["b"]["ok"] and rows["b"]["rev"].startswith("3-")
    assert rows["c"] == {"id": "c", "ok": True, "rev": None, "unchanged": True}
    assert rows["d"]["ok"] and rows["d"]["rev"].startswith("1-")
    b = await couch.get(db, "b")
    assert b["v"] == 1 and b["theirs"] == 1


async def test_update_many_reports_a_conflict_row_when_it_keeps_losing(
    couch: CouchClient, other: CouchClient, db: str
) -> None:
    await couch.put(db, {"_id": "a", "v": 0})

    async def change(doc_id: str, doc: Doc | None) -> Doc | None:
        await bump(other, db, "a", "theirs")
        return {**(doc or {}), "v": 1}

    rows = await update_many_with_retry(couch, db, ["a"], change, attempts=2)
    assert rows["a"]["error"] == "conflict" and "2 times" in rows["a"]["reason"]
    assert (await couch.get(db, "a"))["v"] == 0


# -- ensure_design and view ---------------------------------------------------------------------

VIEWS = {
    "by_kind": "function (doc) { if (doc.kind) { emit(doc.kind, null); } }",
    "count": {"map": "function (doc) { if (doc.kind) { emit(doc.kind, 1); } }", "reduce": "_sum"},
}


async def test_ensure_design_under_two_racing_callers(
    couch: CouchClient, other: CouchClient, db: str
) -> None:
    results = await asyncio.gather(
        *(ensure_design(c, db, "_design/t", VIEWS, version=1) for c in [couch, other] * 3)
    )
    assert sum(results) == 1  # one wrote, the others found it done
    ddoc = await couch.get(db, "_design/t")
    assert ddoc["_rev"].startswith("1-") and ddoc["version"] == 1
    assert ddoc["views"]["by_kind"] == {"map": VIEWS["by_kind"]}
    assert await ensure_design(couch, db, "_design/t", VIEWS, version=1) is False

    await couch.bulk_docs(db, [{"_id": "x", "kind": "a"}, {"_id": "y", "kind": "b"}])
    assert [r["id"] for r in await couch.view(db, "_design/t", "by_kind", key="b")] == ["y"]
    assert [r["id"] for r in await couch.view(db, "t", "by_kind", keys=["a", "b"])] == ["x", "y"]
    assert (await couch.view(db, "_design/t", "count"))[0]["value"] == 2


async def test_ensure_design_updates_changed_views_but_not_a_newer_version(
    couch: CouchClient, db: str
) -> None:
    await ensure_design(couch, db, "_design/t", VIEWS, version=2)
    changed = {"by_kind": "function (doc) { emit(doc.kind, 2); }"}
    assert await ensure_design(couch, db, "_design/t", changed, version=2) is True
    assert (await couch.get(db, "_design/t"))["views"] == {"by_kind": {"map": changed["by_kind"]}}
    # an older release starting during a rolling deploy leaves the newer views alone
    assert await ensure_design(couch, db, "_design/t", VIEWS, version=1) is False
    assert (await couch.get(db, "_design/t"))["views"] == {"by_kind": {"map": changed["by_kind"]}}
    with pytest.raises(ValueError, match="_design/"):
        await ensure_design(couch, db, "t", VIEWS)


# -- CheckpointStore ----------------------------------------------------------------------------


async def test_checkpoint_round_trip(couch: CouchClient, db: str) -> None:
    store = CheckpointStore(couch, db, prefix="router-checkpoint:", name_field="source")
    assert await store.load("rep_ana") == 0
    await store.save("rep_ana", "12-abc")
    await store.save("rep_ana", "15-def")  # on the cached revision
    assert await store.load("rep_ana") == "15-def"
    doc = await couch.get(db, "_local/router-checkpoint:rep_ana")
    assert doc["source"] == "rep_ana" and doc["seq"] == "15-def" and "updated_at" in doc
    # in no feed and no _all_docs, so thousands of them never flood the database's followers
    assert (await couch.all_docs(db))["rows"] == []
    assert (await couch.changes(db)).results == []
    assert await CheckpointStore(couch, db, prefix="router-checkpoint:").load("rep_ana") == "15-def"

    await store.forget("rep_ana")
    assert await store.load("rep_ana") == 0
    assert await couch.get_or_none(db, "_local/router-checkpoint:rep_ana") is None


async def test_checkpoint_save_after_another_process_wrote_it(
    couch: CouchClient, other: CouchClient, db: str
) -> None:
    ours = CheckpointStore(couch, db, prefix="resolver-checkpoint:", name_field="db")
    theirs = CheckpointStore(other, db, prefix="resolver-checkpoint:", name_field="db")
    assert await ours.load("fs_orders") == 0
    await ours.save("fs_orders", 10)
    await theirs.load("fs_orders")
    await theirs.save("fs_orders", 11)  # our cached revision is stale now: our PUT gets a 409

    await ours.save("fs_orders", 12)
    assert await theirs.load("fs_orders") == 12
    await ours.save("fs_orders", 13)  # the revision the fallback wrote is cached in turn
    assert await theirs.load("fs_orders") == 13

    # deleted behind its back (an operator resetting it): the next save creates it again
    doc = await couch.get(db, "_local/resolver-checkpoint:fs_orders")
    await other.delete(db, doc["_id"], doc["_rev"])
    await ours.save("fs_orders", 14)
    assert await theirs.load("fs_orders") == 14
