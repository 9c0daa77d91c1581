"""First sync from a snapshot: ``GET /sync/{db}/_snapshot`` loaded by a real PouchDB phone.

The bar: a phone primed with the snapshot (pouchdb-load, ``proxy`` = the sync URL) and then
replicated ends with exactly the ids and revisions of a phone that replicated plainly, conflicts,
deletions and attachments included, also when the database changed in between; and the
replication after the snapshot reads only what changed after the snapshot's sequence.
"""

from __future__ import annotations

import base64
import gzip
from typing import Any

import httpx
import orjson
import pytest
from polling import wait_until
from support.phone import Phone, PhoneCommandError
from support.world import World, add_user, login

from mobile_schema import sample


@pytest.fixture
async def world(service_factory: Any) -> World:
    """Snapshots for every database size; the builder's own rounds far apart, so a test
    decides when one is built (``build``) or asks for it through the gateway (a 404 wakes it)."""
    service = await service_factory(snapshot_min_docs=0, snapshot_check_s=3600)
    w = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in (("alice", "rep"), ("carol", "rep"), ("max", "manager")):
        await add_user(w, user_id, role)
    return w


def builder(world: World) -> Any:
    return world.service.services.workers.snapshots


def snapshot_url(world: World, user: str = "alice") -> str:
    return f"{world.users[user].sync_url}/_snapshot"


def h(n: int) -> str:
    return f"{n:032x}"


def product(i: int, **kw: Any) -> dict[str, Any]:
    return {**sample("product", **{"_id": f"product:P{i:05}"}, sku=f"P{i:05}"), **kw}


PHOTO = bytes(range(256)) * 40


async def tricky_database(world: World) -> None:
    """120 products, and the cases a snapshot must carry:

    product:conflicted      1-h1 ── 2-h2          (winner)
                               └─── 2-h3          (losing leaf)
    product:deleted-branch  1-h4 ── 2-h5          (winner)
                               └─── 2-h6 deleted  (deleted losing leaf)
    product:gone            1-.. ── 2-.. deleted  (a deleted document)
    product:photo           1-..  with a 10 KB attachment
    """
    db = world.dbs.rep("alice")
    await world.couch.bulk_docs(db, [product(i) for i in range(120)])

    def rev(doc_id: str, gen: int, ids: list[int], **body: Any) -> dict[str, Any]:
        return {
            **sample("product", sku=doc_id.split(":")[1]),
            **body,
            "_id": doc_id,
            "_rev": f"{gen}-{h(ids[0])}",
            "_revisions": {"start": gen, "ids": [h(i) for i in ids]},
        }

    await world.couch.bulk_docs(
        db,
        [
            rev("product:conflicted", 2, [2, 1], name="A"),
            rev("product:conflicted", 2, [3, 1], name="B"),
            rev("product:deleted-branch", 2, [5, 4], name="kept"),
            {**rev("product:deleted-branch", 2, [6, 4]), "_deleted": True},
        ],
        new_edits=False,
    )
    gone = await world.couch.put(db, product(9000, _id="product:gone"))
    await world.couch.delete(db, "product:gone", gone["rev"])
    await world.couch.put(
        db,
        {
            **product(9001, _id="product:photo"),
            "_attachments": {
                "photo.jpg": {
                    "content_type": "image/jpeg",
                    "data": base64.b64encode(PHOTO).decode(),
                }
            },
        },
    )


async def leaves(phone: Phone) -> dict[str, Any]:
    """Every document's leaves (deleted ones too) with their histories and attachments."""
    ids = sorted({row["id"] for row in (await phone.changes(style="all_docs"))["results"]})
    out: dict[str, Any] = {}
    for doc_id in ids:
        revs = await phone.get(doc_id, open_revs="all", revs=True, attachments=True)
        out[doc_id] = sorted(orjson.dumps(r["ok"], option=orjson.OPT_SORT_KEYS) for r in revs)
    return out


async def server_leaves(world: World, user: str = "alice") -> dict[str, list[str]]:
    db = world.dbs.rep(user)
    page = await world.couch.changes(db, style="all_docs")
    return {r["id"]: sorted(c["rev"] for c in r["changes"]) for r in page.results}


def rev_map(dump: dict[str, Any]) -> dict[str, list[str]]:
    return {doc_id: sorted(orjson.loads(d)["_rev"] for d in docs) for doc_id, docs in dump.items()}


async def primed(
    world: World, phone: Phone, loader: Any = "lines", user: str = "alice"
) -> dict[str, Any]:
    """Load the snapshot, then replicate; return the follow-up's result and requests."""
    u = world.users[user]
    loaded = await phone.load(
        snapshot_url(world, user), u.sync_url, headers=u.headers, name="load", loader=loader
    )
    follow = await phone.pull(u.sync_url, headers=u.headers, name="follow")
    return {"load": loaded, "follow": follow, "requests": await phone.requests("follow")}


async def test_a_primed_phone_equals_a_plainly_replicated_one_and_reads_nothing_more(
    world: World, phone: Phone, phone2: Phone
) -> None:
    await tricky_database(world)
    snap = await builder(world).build("alice")
    run = await primed(world, phone)
    alice = world.users["alice"]
    plain = await phone2.pull(alice.sync_url, headers=alice.headers)

    assert run["load"]["headers"]["content-encoding"] == "gzip"
    # the follow-up starts at the snapshot's sequence and reads nothing
    assert run["follow"]["docs_read"] == 0
    paths = [r["path"].rsplit("/", 1)[-1] for r in run["requests"]]
    assert "_bulk_get" not in paths and "_revs_diff" not in paths
    feeds = [r for r in run["requests"] if r["path"].endswith("/_changes")]
    assert len(feeds) == 1
    assert str(feeds[0]["query"]["since"]) == str(snap.seq)
    assert len(run["requests"]) <= 6, run["requests"]

    mine, theirs = await leaves(phone), await leaves(phone2)
    assert plain["docs_written"] >= 124
    assert mine == theirs
    assert rev_map(mine) == await server_leaves(world)
    assert len(mine["product:conflicted"]) == 2
    assert len(mine["product:deleted-branch"]) == 2
    assert orjson.loads(mine["product:gone"][0])["_deleted"] is True
    photo = orjson.loads(mine["product:photo"][0])["_attachments"]["photo.jpg"]
    assert base64.b64decode(photo["data"]) == PHOTO
    doc = await phone.get("product:conflicted", conflicts=True)
    assert (
        doc["_conflicts"] == (await phone2.get("product:conflicted", conflicts=True))["_conflicts"]
    )


async def test_changes_after_the_snapshot_come_with_the_follow_up(
    world: World, phone: Phone, phone2: Phone
) -> None:
    await tricky_database(world)
    await builder(world).build("alice")
    db = world.dbs.rep("alice")
    # between the snapshot and the phone: an edit, a deletion, a new document, a new conflict
    p1 = await world.couch.get(db, "product:P00001")
    await world.couch.put(db, {**p1, "name": "renamed"})
    p2 = await world.couch.get(db, "product:P00002")
    await world.couch.delete(db, p2["_id"], p2["_rev"])
    await world.couch.put(db, product(500))
    p3 = await world.couch.get(db, "product:P00003")
    await world.couch.put(db, {**p3, "name": "office edit"})
    await world.couch.bulk_docs(
        db,
        [
            {
                **p3,
                "name": "offline edit",
                "_rev": f"2-{h(77)}",
                "_revisions": {"start": 2, "ids": [h(77), p3["_rev"].split("-")[1]]},
            }
        ],
        new_edits=False,
    )
    run = await primed(world, phone, loader="pouchdb-load")  # the whole dump at once
    alice = world.users["alice"]
    await phone2.pull(alice.sync_url, headers=alice.headers)
    # P00001, the P00002 tombstone, P00500 and both leaves of P00003
    assert run["follow"]["docs_read"] == 5
    mine = await leaves(phone)
    assert mine == await leaves(phone2)
    assert rev_map(mine) == await server_leaves(world)
    assert orjson.loads(mine["product:P00001"][0])["name"] == "renamed"
    assert len(mine["product:P00003"]) == 2


async def test_pouchdb_replication_stream_reads_the_same_dump(
    world: World, phone: Phone, phone2: Phone
) -> None:
    await tricky_database(world)
    await builder(world).build("alice")
    alice = world.users["alice"]
    await phone.load(
        snapshot_url(world), alice.sync_url, headers=alice.headers, loader="replication-stream"
    )
    await phone2.pull(alice.sync_url, headers=alice.headers)
    assert await leaves(phone) == await leaves(phone2)
    # without a checkpoint its replication walks the feed but finds nothing to read
    again = await phone.pull(alice.sync_url, headers=alice.headers)
    assert again["docs_read"] == 0


async def test_only_the_owner_gets_the_snapshot(world: World) -> None:
    await world.couch.bulk_docs(world.dbs.rep("alice"), [product(i) for i in range(5)])
    await builder(world).build("alice")
    url = snapshot_url(world)
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(url)).status_code == 401
        wrong = await http.get(url, headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401
        for other in ("carol", "max"):
            resp = await http.get(url, headers=world.users[other].headers)
            assert resp.status_code == 403, other
            assert resp.json()["error"] == "forbidden"
        basic = httpx.BasicAuth("alice", world.users["alice"].password)
        assert (await http.get(url, auth=basic)).status_code == 200


async def test_gzip_plain_etag_range_and_resume(world: World) -> None:
    await world.couch.bulk_docs(world.dbs.rep("alice"), [product(i) for i in range(300)])
    snap = await builder(world).build("alice")
    url = snapshot_url(world)
    auth = world.users["alice"].headers
    async with httpx.AsyncClient(timeout=30, headers=auth) as http:
        gz = await http.get(url, headers={"Accept-Encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip"
        raw_gz = gz.content  # httpx decodes: read the encoded bytes through a stream instead
        async with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as resp:
            encoded = b"".join([c async for c in resp.aiter_raw()])
        assert len(encoded) == snap.gz_bytes == int(gz.headers["content-length"])
        plain = await http.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == gzip.decompress(encoded) == raw_gz
        assert len(plain.content) == snap.raw_bytes
        assert gz.headers["etag"] != plain.headers["etag"]

        lines = [orjson.loads(x) for x in plain.content.splitlines()]
        assert lines[0]["version"] == "1.2.9" and "db_info" in lines[0]
        assert lines[-1] == {"seq": snap.seq}
        ids = [d["_id"] for line in lines if "docs" in line for d in line["docs"]]
        assert len(ids) == 300 and all("_revisions" in d for x in lines for d in x.get("docs", []))
        assert plain.headers["x-fieldsync-snapshot-seq"] == orjson.dumps(snap.seq).decode()
        assert plain.headers["x-fieldsync-snapshot-stale"] == "false"

        # a download broken after `cut` bytes resumes with Range + If-Range, in each encoding
        for etag, whole, enc in (
            (gz.headers["etag"], encoded, "gzip"),
            (plain.headers["etag"], plain.content, "identity"),
        ):
            cut = len(whole) // 3
            headers = {"Accept-Encoding": enc, "Range": f"bytes={cut}-", "If-Range": etag}
            async with http.stream("GET", url, headers=headers) as resp:
                assert resp.status_code == 206
                assert resp.headers["content-range"] == f"bytes {cut}-{len(whole) - 1}/{len(whole)}"
                rest = b"".join([c async for c in resp.aiter_raw()])
            assert whole[:cut] + rest == whole
            headers = {"Accept-Encoding": enc, "Range": "bytes=0-9"}
            async with http.stream("GET", url, headers=headers) as resp:
                assert resp.status_code == 206
                assert b"".join([c async for c in resp.aiter_raw()]) == whole[:10]
            assert (
                await http.get(url, headers={"Accept-Encoding": enc, "If-None-Match": etag})
            ).status_code == 304
            past = await http.get(
                url, headers={"Accept-Encoding": enc, "Range": f"bytes={len(whole)}-"}
            )
            assert past.status_code == 416
            assert past.headers["content-range"] == f"bytes */{len(whole)}"

        # the snapshot changed since the first part: If-Range gets the whole new one
        await world.couch.put(world.dbs.rep("alice"), product(999))
        await builder(world).build("alice")
        stale = await http.get(
            url,
            headers={
                "Accept-Encoding": "identity",
                "Range": "bytes=100-",
                "If-Range": plain.headers["etag"],
            },
        )
        assert stale.status_code == 200
        assert stale.headers["etag"] != plain.headers["etag"]
        assert b"product:P00999" in stale.content

        info = await http.head(url, headers={"Accept-Encoding": "gzip"})
        assert info.status_code == 200 and info.content == b""
        assert int(info.headers["content-length"]) > 0


async def test_missing_snapshot_is_404_and_the_builder_makes_one(world: World) -> None:
    await world.couch.bulk_docs(world.dbs.rep("alice"), [product(i) for i in range(10)])
    url = snapshot_url(world)
    async with httpx.AsyncClient(timeout=30, headers=world.users["alice"].headers) as http:
        first = await http.get(url)
        assert first.status_code == 404
        assert first.json()["error"] == "not_found"

        async def served() -> bool:
            return (await http.get(url)).status_code == 200

        # the 404 woke the builder (its own rounds are an hour apart)
        await wait_until(served, timeout=20, message="the snapshot built in the background")


async def test_the_builder_rebuilds_a_database_that_changed_enough(
    service_factory: Any,
) -> None:
    service = await service_factory(
        snapshot_min_docs=0, snapshot_rebuild_changes=200, snapshot_check_s=0.2
    )
    world = World(service, await login(service.url, "admin", "admin-pass"))
    await add_user(world, "alice", "rep")
    store = builder(world).store
    db = world.dbs.rep("alice")
    await world.couch.bulk_docs(db, [product(i) for i in range(30)])

    async def built(leaves: int) -> Any:
        snap = await store.current("alice")
        return snap if snap and snap.leaves == leaves else None

    # the builder's rounds may have snapshotted the empty database first (min_docs=0)
    first = await builder(world).build("alice")
    assert first.leaves == 30
    await world.couch.bulk_docs(db, [product(100 + i) for i in range(5)])
    async with httpx.AsyncClient(timeout=30, headers=world.users["alice"].headers) as http:
        resp = await http.get(snapshot_url(world))
        # updates, not documents: the router may rewrite what it saw, so at least the 5
        assert int(resp.headers["x-fieldsync-snapshot-lag"]) >= 5
        assert resp.headers["x-fieldsync-snapshot-stale"] == "false"
    builds = builder(world).builds
    await world.couch.bulk_docs(db, [product(200 + i) for i in range(250)])

    snap = await wait_until(lambda: built(285), timeout=30, message="a rebuilt snapshot")
    assert snap.seq_number > first.seq_number
    assert builder(world).builds > builds


async def test_uuid_is_stable_across_processes_and_local_reads_404(
    world: World, service_factory: Any
) -> None:
    alice = world.users["alice"]
    async with httpx.AsyncClient(timeout=30) as http:
        root = (await http.get(f"{world.url}/sync/")).json()
        assert len(root["uuid"]) == 32
        # a second gateway process of the same deployment (same CouchDB, same fs_ops)
        other = await service_factory(snapshot_min_docs=0)
        again = (await http.get(f"{other.url}/sync/")).json()
        assert again["uuid"] == root["uuid"]
        missing = await http.get(f"{alice.sync_url}/_local/nothing-here", headers=alice.headers)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"


async def test_another_gateway_serves_the_same_snapshot(
    world: World, service_factory: Any, phone: Phone
) -> None:
    await tricky_database(world)
    snap = await builder(world).build("alice")
    other = await service_factory(snapshot_min_docs=0, run_workers=False)
    alice = world.users["alice"]
    other_url = f"{other.url}/sync/{world.dbs.rep('alice')}"
    async with httpx.AsyncClient(timeout=30, headers=alice.headers) as http:
        here = await http.head(snapshot_url(world), headers={"Accept-Encoding": "gzip"})
        there = await http.head(f"{other_url}/_snapshot", headers={"Accept-Encoding": "gzip"})
    assert here.headers["etag"] == there.headers["etag"] == snap.etag(True)
    # primed from one gateway, replicated through the other: still starts at the snapshot
    await phone.load(f"{other_url}/_snapshot", other_url, headers=alice.headers)
    follow = await phone.pull(alice.sync_url, headers=alice.headers, name="follow")
    assert follow["docs_read"] == 0
    feeds = [r for r in await phone.requests("follow") if r["path"].endswith("/_changes")]
    assert str(feeds[0]["query"]["since"]) == str(snap.seq)


async def test_a_phone_without_a_snapshot_gets_a_clear_error(world: World, phone: Phone) -> None:
    alice = world.users["alice"]
    with pytest.raises(PhoneCommandError) as failed:
        await phone.load(snapshot_url(world), alice.sync_url, headers=alice.headers)
    assert failed.value.status == 404
