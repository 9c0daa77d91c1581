"""The embedded PouchDB Server: started, restarted when it dies, its 401 mapped, and its list of
databases (kept between requests) true at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from polling import wait_until

from sync_gateway.config import REPO_ROOT
from sync_gateway.couch import CouchClient, CouchNotFound, CouchUnauthorized, CouchUnavailable
from sync_gateway.couch.embedded import EmbeddedCouch
from sync_gateway.databases import Databases


@pytest.fixture
async def private_server(tmp_path: Path) -> AsyncIterator[EmbeddedCouch]:
    """A server of this test's own, with a second admin, so it can be broken without harming
    others."""
    server = EmbeddedCouch(REPO_ROOT / "couchdb_embedded" / "node_modules", tmp_path)
    await server.start()
    async with httpx.AsyncClient() as http:
        anonymous = await http.put(f"{server.url}/_config/admins/admin", content=b'"secret"')
        assert anonymous.status_code == 401  # no admin party
        resp = await http.put(f"{server.admin_url}/_config/admins/admin", content=b'"secret"')
        assert resp.status_code == 200
    yield server
    await server.stop()


async def test_wrong_credentials_are_unauthorized(private_server: EmbeddedCouch) -> None:
    url = private_server.url.replace("http://", "http://admin:wrong@")
    client = CouchClient(url)
    with pytest.raises(CouchUnauthorized) as err:
        await client.all_dbs()
    assert err.value.error == "unauthorized"
    await client.aclose()
    good = CouchClient(private_server.url.replace("http://", "http://admin:secret@"))
    assert "_users" in await good.all_dbs()
    await good.aclose()


async def test_a_crashed_server_is_restarted_with_its_data(private_server: EmbeddedCouch) -> None:
    admin = CouchClient(private_server.url.replace("http://", "http://admin:secret@"))
    await admin.create_db("keep")
    await admin.put("keep", {"_id": "a", "v": 1})
    first_pid = private_server.pid
    # PouchDB Server 4.2.0 crashes on an unauthenticated database creation once an admin exists:
    # one of the request shapes the gateway must never forward.
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.TransportError):
            await http.put(f"{private_server.url}/crashme")
    await wait_until(
        lambda: private_server.restarts >= 1 and private_server.available,
        timeout=30,
        message="the supervisor to restart PouchDB Server",
    )
    assert private_server.pid != first_pid
    assert (await admin.get("keep", "a"))["v"] == 1
    await admin.aclose()


async def test_killed_server_is_unavailable_then_back(private_server: EmbeddedCouch) -> None:
    client = CouchClient(private_server.url.replace("http://", "http://admin:secret@"))
    await private_server.kill()
    with pytest.raises(CouchUnavailable):
        await client.server_info()
    await wait_until(
        lambda: private_server.restarts == 1 and private_server.available,
        timeout=30,
        message="the supervisor to restart PouchDB Server",
    )
    assert (await client.server_info())["version"]
    await client.aclose()


async def test_databases_are_found_and_gone_the_moment_they_come_and_go(
    couch: CouchClient, dbs: Databases
) -> None:
    """The server's list of databases (kept between requests by pouchdb_server.js) follows
    every create and delete at once: a new database answers its first request, a deleted one
    answers 404 and is not listed, the same name created again is empty. On CouchDB too."""
    names = [dbs.rep(f"u{i}") for i in range(12)]
    for name in names:
        await couch.create_db(name)
        await couch.put(name, {"_id": "doc", "n": 1})  # its first request after creation
        assert (await couch.db_info(name))["doc_count"] == 1
    listed = set(await couch.all_dbs())
    assert set(names) <= listed
    for name in names[::2]:
        await couch.delete_db(name)
        with pytest.raises(CouchNotFound):
            await couch.db_info(name)
    listed = set(await couch.all_dbs())
    assert not set(names[::2]) & listed and set(names[1::2]) <= listed
    await couch.create_db(names[0])
    assert (await couch.db_info(names[0]))["doc_count"] == 0
    assert await couch.get_or_none(names[0], "doc") is None


async def test_views_answer_as_couchdb_does(couch: CouchClient, dbs: Databases) -> None:
    """pouchdb_server.js compiles a view's map and reduce functions once (pouchdb-mapreduce
    compiled a script per document): the answers are CouchDB's, helpers and errors included,
    and the index follows later writes. On CouchDB too."""
    db = dbs.rep("views")
    await couch.create_db(db)
    docs = [{"_id": f"d{i}", "k": i % 3, "v": i, "tags": ["a", "b"][: i % 3]} for i in range(9)]
    docs.append({"_id": "odd", "k": "x"})  # no v: the map throws for it, the rest is indexed
    await couch.bulk_docs(db, docs)
    await couch.put(db, {
        "_id": "_design/t",
        "views": {
            "by_k": {"map": "function (doc) { if (doc.v === undefined) throw new Error('no v');"
                            " emit(doc.k, isArray(doc.tags) ? doc.tags.length : -1); }",
                     "reduce": "_sum"},
            "count": {"map": "function (doc) { if (doc.v !== undefined) emit(doc.k, doc.v); }",
                      "reduce": "_count"},
            "stats": {"map": "function (doc) { if (doc.v !== undefined) emit(null, doc.v); }",
                      "reduce": "_stats"},
            "custom": {"map": "function (doc) { if (doc.v !== undefined) emit(doc.k, doc.v); }",
                       "reduce": "function (keys, values, rereduce) {"
                                 " return rereduce ? sum(values) : sum(values) * 2; }"},
            "mutates": {"map": "function (doc) { try { doc.v = 'changed'; } catch (e) {}"
                                " emit(doc._id, null); }"},
        },
    })  # fmt: skip
    rows = await couch.view(db, "t", "by_k", group=True)
    assert rows == [{"key": 0, "value": 0}, {"key": 1, "value": 3}, {"key": 2, "value": 6}]
    assert (await couch.view(db, "t", "count", reduce=True))[0]["value"] == 9
    stats = (await couch.view(db, "t", "stats"))[0]["value"]
    assert (stats["sum"], stats["count"], stats["min"], stats["max"]) == (36, 9, 0, 8)
    assert stats["sumsqr"] == sum(i * i for i in range(9))
    assert (await couch.view(db, "t", "custom", group=True))[1] == {"key": 1, "value": 24}
    # a map function that writes to its document (CouchDB freezes it) leaves the stored one be
    assert len(await couch.view(db, "t", "mutates", keys=["d4"])) == 1
    assert (await couch.get(db, "d4"))["v"] == 4
    await couch.put(db, {"_id": "d9", "k": 1, "v": 9, "tags": ["a"]})  # indexed on the next query
    rows = await couch.view(db, "t", "by_k", group=True)
    assert rows[1] == {"key": 1, "value": 4}
