"""The CouchDB client against a real CouchDB-protocol server."""

from __future__ import annotations

import asyncio

import pytest

from sync_gateway.couch import (
    CouchBadRequest,
    CouchClient,
    CouchConflict,
    CouchNotFound,
    CouchUnavailable,
)
from sync_gateway.couch.embedded import free_port
from sync_gateway.databases import Databases, ensure_databases


async def test_create_database_is_idempotent(couch: CouchClient, dbs: Databases) -> None:
    created = await ensure_databases(couch, dbs)
    assert sorted(created) == sorted(dbs.shared)
    assert await ensure_databases(couch, dbs) == []
    info = await couch.db_info(dbs.orders)
    assert info["db_name"] == dbs.orders
    assert info["doc_count"] == 0


async def test_put_get_update_and_conflict(couch: CouchClient, dbs: Databases) -> None:
    await couch.create_db(dbs.master)
    first = await couch.put(dbs.master, {"_id": "product:1", "name": "Tea"})
    assert first["rev"].startswith("1-")
    doc = await couch.get(dbs.master, "product:1")
    assert doc["name"] == "Tea"
    second = await couch.put(dbs.master, {**doc, "name": "Green tea"})
    assert second["rev"].startswith("2-")
    with pytest.raises(CouchConflict) as err:
        await couch.put(dbs.master, {**doc, "name": "stale edit"})
    assert err.value.status == 409
    assert err.value.error == "conflict"
    assert (await couch.get(dbs.master, "product:1"))["name"] == "Green tea"


async def test_missing_document_and_database_are_not_found(
    couch: CouchClient, dbs: Databases
) -> None:
    with pytest.raises(CouchNotFound):
        await couch.get(dbs.master, "product:1")
    await couch.create_db(dbs.master)
    with pytest.raises(CouchNotFound) as err:
        await couch.get(dbs.master, "product:nope")
    assert err.value.error == "not_found"
    assert await couch.get_or_none(dbs.master, "product:nope") is None
    assert not await couch.db_exists(dbs.field)


async def test_ids_with_slashes_and_spaces_round_trip(couch: CouchClient, dbs: Databases) -> None:
    await couch.create_db(dbs.master)
    odd = "account:a/b c?d#e"
    await couch.put(dbs.master, {"_id": odd, "v": 1})
    assert (await couch.get(dbs.master, odd))["v"] == 1
    rows = (await couch.all_docs(dbs.master, keys=[odd, "missing"]))["rows"]
    assert rows[0]["id"] == odd
    assert rows[1]["error"] == "not_found"


async def test_bulk_docs_new_edits_false_keeps_revisions_and_makes_conflicts(
    couch: CouchClient, dbs: Databases
) -> None:
    #   1-a ── 2-b      two leaves written as a replicator would: the same ids everywhere
    #      └── 2-c
    await couch.create_db(dbs.orders)
    docs = [
        {"_id": "order:1", "_rev": "2-b", "v": "b", "_revisions": {"start": 2, "ids": ["b", "a"]}},
        {"_id": "order:1", "_rev": "2-c", "v": "c", "_revisions": {"start": 2, "ids": ["c", "a"]}},
    ]
    await couch.bulk_docs(dbs.orders, docs, new_edits=False)
    leaves = await couch.open_revs(dbs.orders, "order:1")
    assert sorted(leaf["ok"]["_rev"] for leaf in leaves) == ["2-b", "2-c"]
    assert all(leaf["ok"]["_revisions"]["ids"][-1] == "a" for leaf in leaves)
    winner = await couch.get(dbs.orders, "order:1", conflicts=True)
    assert winner["_rev"] == "2-c"  # the higher hash wins, as in CouchDB
    assert winner["_conflicts"] == ["2-b"]
    # writing the same revision again changes nothing
    await couch.bulk_docs(dbs.orders, docs[:1], new_edits=False)
    assert len(await couch.open_revs(dbs.orders, "order:1")) == 2


async def test_bulk_docs_reports_per_document_errors(couch: CouchClient, dbs: Databases) -> None:
    await couch.create_db(dbs.master)
    await couch.put(dbs.master, {"_id": "p:1"})
    result = await couch.bulk_docs(dbs.master, [{"_id": "p:1", "x": 1}, {"_id": "p:2"}])
    assert result[0]["error"] == "conflict"
    assert result[1]["rev"].startswith("1-")


async def test_bulk_get_revs_diff_and_local_documents(couch: CouchClient, dbs: Databases) -> None:
    await couch.create_db(dbs.master)
    rev = (await couch.put(dbs.master, {"_id": "p:1", "n": 1}))["rev"]
    results = await couch.bulk_get(dbs.master, [{"id": "p:1", "rev": rev}, {"id": "p:9"}])
    assert results[0]["docs"][0]["ok"]["n"] == 1
    assert "_revisions" in results[0]["docs"][0]["ok"]
    # CouchDB answers {"error": ...} for a missing document, PouchDB Server an empty object
    assert "ok" not in results[1]["docs"][0]
    diff = await couch.revs_diff(dbs.master, {"p:1": [rev, "1-zzz"], "p:2": ["1-yyy"]})
    assert diff == {"p:1": {"missing": ["1-zzz"]}, "p:2": {"missing": ["1-yyy"]}}
    assert await couch.get_local(dbs.master, "checkpoint") is None
    await couch.put_local(dbs.master, "checkpoint", {"seq": 5})
    assert (await couch.get_local(dbs.master, "checkpoint"))["seq"] == 5  # type: ignore[index]
    changes = await couch.changes(dbs.master)
    assert [row["id"] for row in changes.results] == ["p:1"]  # local docs are not replicated


async def test_iter_changes_pages_in_bounded_batches(couch: CouchClient, dbs: Databases) -> None:
    await couch.create_db(dbs.master)
    await couch.bulk_docs(dbs.master, [{"_id": f"p:{i:03}"} for i in range(23)])
    pages = [page async for page in couch.iter_changes(dbs.master, batch_size=5)]
    assert [len(p.results) for p in pages] == [5, 5, 5, 5, 3]
    ids = [row["id"] for p in pages for row in p.results]
    assert sorted(ids) == [f"p:{i:03}" for i in range(23)]


async def test_continuous_feed_is_consumed_while_documents_are_written(
    couch: CouchClient, dbs: Databases
) -> None:
    await couch.create_db(dbs.orders)
    await couch.put(dbs.orders, {"_id": "order:old"})
    seen: list[str] = []

    async def follow() -> None:
        async for row in couch.changes_stream(dbs.orders, since="now", heartbeat_ms=500):
            seen.append(row["id"])
            if len(seen) == 3:
                return

    task = asyncio.create_task(follow())
    for i in range(3):
        await asyncio.sleep(0.05)  # give the feed time to attach before the first write
        await couch.put(dbs.orders, {"_id": f"order:{i}"})
    await asyncio.wait_for(task, 10)
    assert seen == ["order:0", "order:1", "order:2"]


async def test_malformed_request_is_bad_request(couch: CouchClient, dbs: Databases) -> None:
    await couch.create_db(dbs.master)
    with pytest.raises(CouchBadRequest):
        await couch.request(
            "POST",
            f"/{dbs.master}/_bulk_docs",
            content=b'{"docs": [',
            headers={"Content-Type": "application/json"},
        )


async def test_server_down_is_unavailable() -> None:
    client = CouchClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CouchUnavailable):
        await client.server_info()
    with pytest.raises(CouchUnavailable):
        async for _ in client.changes_stream("fs_orders"):
            pass
    await client.aclose()


@pytest.mark.parametrize(
    ("doc_id", "path"),
    [
        ("order:1", "/db/order%3A1"),
        ("..", "/db/%2E%2E"),
        (".", "/db/%2E"),
        ("a/../b", "/db/a%2F..%2Fb"),
        ("_local/../x", "/db/_local/..%2Fx"),
        ("_design/x", "/db/_design/x"),
    ],
)
def test_document_paths_cannot_climb_out_of_their_database(doc_id: str, path: str) -> None:
    from sync_gateway.couch import doc_path

    assert doc_path("db", doc_id) == path
