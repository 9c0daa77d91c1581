"""Real processes killed for real in the middle of a replication; every order arrives once.

- CouchDB (PouchDB Server) killed mid-push: the gateway answers 503 meanwhile, the supervisor
  restarts the server, the phone's replicator retries and finishes.
- The gateway process killed mid-push and started again on the same port: the phone retries.
- CouchDB killed mid-pull of a 3,000-document rep database: 503 meanwhile, the phone's live pull
  retries and ends with exactly the server's documents and revisions (edits and deletions made
  after the restart included).
- ``fieldsync worker`` SIGKILLed while it resolves 240 conflicted orders, then started again:
  each order ends with one merge (one live leaf, one tombstone), one conflict_record, every line
  of both devices, and nothing left for a sweep to do.

Afterwards every order is in fs_orders exactly once (one live leaf, the phone's revision) and
the phone and the server agree.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from polling import wait_until
from support.phone import Phone
from support.world import World, add_user, login

from conflict.records import notification_id
from conflict.resolver import Resolver
from mobile_schema import sample, sample_order_line
from mobile_schema.money import order_total
from notifications.events import Event, EventKind
from notifications.outbox import entry_local_id
from sync_gateway.config import REPO_ROOT
from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.couch import CouchClient
from sync_gateway.couch.embedded import EmbeddedCouch, free_port
from sync_gateway.databases import Databases, ensure_databases

ORDERS = 300


def orders(rep: str, n: int = ORDERS) -> list[dict[str, Any]]:
    return [
        sample("order", **{"_id": f"order:{rep}-{i:04d}"}, rep_id=rep, status="submitted")
        for i in range(n)
    ]


async def assert_each_order_once(
    couch: CouchClient, dbs: Databases, phone: Phone, rep: str
) -> None:
    async def all_arrived() -> bool:
        info = await couch.db_info(dbs.orders)
        return int(info["doc_count"]) >= ORDERS

    await wait_until(all_arrived, timeout=180, interval=0.5, message="every order in fs_orders")
    rows = (await couch.all_docs(dbs.orders, include_docs=True, conflicts=True))["rows"]
    mine = [r["doc"] for r in rows if r["id"].startswith(f"order:{rep}-")]
    assert len(mine) == ORDERS
    assert not [d["_id"] for d in mine if d.get("_conflicts")]
    local = {r["id"]: r["value"]["rev"] for r in (await phone.all_docs())["rows"]}
    assert {d["_id"]: d["_rev"] for d in mine} == {
        k: v for k, v in local.items() if k.startswith("order:")
    }


async def kill_and_see_503(server: EmbeddedCouch, url: str, headers: dict[str, str]) -> None:
    """Kill the database; the gateway answers 503 with Retry-After until the supervisor has it
    back (waited for here)."""
    await server.kill()
    async with httpx.AsyncClient(headers=headers) as http:
        during = await http.get(url)
    assert during.status_code == 503 and during.headers["retry-after"]
    assert during.json()["error"] == "service_unavailable"
    await wait_until(lambda: server.available, timeout=60, message="CouchDB back")


@pytest.fixture
async def private_couch(tmp_path: Path) -> AsyncIterator[EmbeddedCouch]:
    """A PouchDB Server of this test's own, so killing it harms no other test."""
    server = EmbeddedCouch(REPO_ROOT / "couchdb_embedded" / "node_modules", tmp_path / "couch")
    await server.start()
    yield server
    await server.stop()


async def test_couchdb_killed_mid_push(
    service_factory: Any, private_couch: EmbeddedCouch, phone: Phone
) -> None:
    service = await service_factory(couchdb_url=private_couch.admin_url)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    alice = await add_user(world, "alice", "rep")
    await phone.bulk_docs(orders("alice"))
    couch = service.runtime.couch
    rep_db = world.dbs.rep("alice")
    await phone.live_start(
        "push",
        alice.sync_url,
        direction="push",
        headers=alice.headers,
        options={"back_off_ms": 200, "batch_size": 20},
    )

    async def some_pushed() -> bool:
        return int((await couch.db_info(rep_db))["doc_count"]) >= 40

    await wait_until(some_pushed, timeout=60, message="the push to be under way")
    before_kill = int((await couch.db_info(rep_db))["doc_count"])
    await kill_and_see_503(private_couch, alice.sync_url, alice.headers)
    assert before_kill < ORDERS  # the kill really was in the middle of the push

    async def all_pushed() -> bool:
        return int((await couch.db_info(rep_db))["doc_count"]) >= ORDERS

    await wait_until(all_pushed, timeout=180, interval=0.5, message="the rest of the push")
    await assert_each_order_once(couch, world.dbs, phone, "alice")
    await phone.live_stop("push")


PULL_DOCS = 3000


def products(n: int) -> list[dict[str, Any]]:
    return [
        sample("product", **{"_id": f"product:P{i:05d}"}, sku=f"P{i:05d}", name=f"Product {i}")
        for i in range(n)
    ]


async def revs_by_id(couch: CouchClient, db: str) -> dict[str, str]:
    rows = (await couch.all_docs(db))["rows"]
    return {r["id"]: r["value"]["rev"] for r in rows if not r["id"].startswith("_design/")}


async def test_couchdb_killed_mid_pull(
    service_factory: Any, private_couch: EmbeddedCouch, phone: Phone
) -> None:
    # no router: the rep's documents are written straight into her database below, and a
    # running router would rightly take back what no territory gives her (a flake seen once)
    service = await service_factory(couchdb_url=private_couch.admin_url, run_workers=False)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    alice = await add_user(world, "alice", "rep")
    couch = service.runtime.couch
    rep_db = world.dbs.rep("alice")
    # the rep's database as the router leaves it: a few thousand documents, some edited
    docs = products(PULL_DOCS)
    for start in range(0, PULL_DOCS, 500):
        answers = await couch.bulk_docs(rep_db, docs[start : start + 500])
        assert not [a for a in answers if a.get("error")]
    for doc in docs[::100]:
        current = await couch.get(rep_db, doc["_id"])
        await couch.put(rep_db, {**current, "name": current["name"] + " (new name)"})
    server_before = await revs_by_id(couch, rep_db)
    assert len(server_before) >= PULL_DOCS

    await phone.live_start(
        "pull",
        alice.sync_url,
        direction="pull",
        headers=alice.headers,
        options={"back_off_ms": 200, "batch_size": 25},
    )

    async def some_pulled() -> bool:
        return int((await phone.info())["doc_count"]) >= 300

    await wait_until(some_pulled, timeout=60, interval=0.02, message="the pull to be under way")
    at_kill = int((await phone.info())["doc_count"])
    feed = f"{alice.sync_url}/_changes?since=0&limit=5"
    await kill_and_see_503(private_couch, feed, alice.headers)
    assert private_couch.restarts == 1
    assert 300 <= at_kill < len(server_before)  # the kill really was in the middle of the pull

    # written after the restart (by a client of its own: the service's pool may still hold a
    # connection to the dead server): the same live pull must carry edits and deletions too
    fresh = CouchClient(private_couch.admin_url)
    try:
        for doc in docs[1::200]:
            current = await fresh.get(rep_db, doc["_id"])
            await fresh.put(rep_db, {**current, "name": "Renamed after the restart"})
        for doc in docs[2::500]:
            current = await fresh.get(rep_db, doc["_id"])
            await fresh.delete(rep_db, doc["_id"], current["_rev"])
        server = await revs_by_id(fresh, rep_db)
        names = {
            r["id"]: r["doc"]["name"]
            for r in (await fresh.all_docs(rep_db, include_docs=True))["rows"]
            if not r["id"].startswith("_design/")
        }
    finally:
        await fresh.aclose()
    assert len(server) == len(server_before) - len(docs[2::500])

    async def phone_has_all() -> bool:
        local = {r["id"]: r["value"]["rev"] for r in (await phone.all_docs())["rows"]}
        return local == server

    await wait_until(phone_has_all, timeout=90, interval=0.5, message="the phone = the server")
    # the phone really went through the outage: some of its requests failed and were retried
    requests = await phone.requests("pull")
    assert [r for r in requests if r.get("status", 200) >= 500 or r.get("error")]
    rows = (await phone.all_docs(include_docs=True, conflicts=True))["rows"]
    assert [r["id"] for r in rows if r["doc"].get("_conflicts")] == []
    assert {r["id"]: r["doc"]["name"] for r in rows} == names
    await phone.live_stop("pull")


CONFLICTS = 240
T0, T1, T2 = "2024-05-01T08:00:00.000Z", "2024-05-01T09:00:00.000Z", "2024-05-01T10:00:00.000Z"


def _rev(gen: int, tag: str) -> str:
    return f"{gen}-{hashlib.md5(tag.encode()).hexdigest()}"


def _at(body: dict[str, Any], *revs: str) -> dict[str, Any]:
    """``body`` as revision ``revs[0]`` whose ancestors are ``revs[1:]`` (newest first)."""
    ids = [r.split("-", 1)[1] for r in revs]
    return {
        **body,
        "_rev": revs[0],
        "_revisions": {"start": int(revs[0].split("-")[0]), "ids": ids},
    }


def conflicted_order(i: int) -> list[dict[str, Any]]:
    """
    1-base (l1 qty 1) ── 2-phone (T1: l1 qty 2, adds la)
                     └── 2-pda   (T2: l1 qty 5, adds lb, a note)
    """
    doc_id = f"order:c-{i:04d}"

    def body(lines: list[dict[str, Any]], at: str, **fields: Any) -> dict[str, Any]:
        return sample(
            "order",
            _id=doc_id,
            rep_id="alice",
            status="submitted",
            lines=lines,
            updated_at=at,
            updated_by="alice",
            **fields,
        )

    def line(line_id: str, qty: int, at: str) -> dict[str, Any]:
        return sample_order_line(line_id=line_id, sku=f"SKU-{line_id}", qty=qty, updated_at=at)

    base = _rev(1, f"{doc_id} base")
    return [
        _at(body([line("l1", 1, T0)], T0), base),
        _at(body([line("l1", 2, T1), line("la", 3, T1)], T1), _rev(2, f"{doc_id} phone"), base),
        _at(
            body([line("l1", 5, T2), line("lb", 4, T2)], T2, note="Ring twice"),
            _rev(2, f"{doc_id} pda"),
            base,
        ),
    ]


def _worker(couch_url: str, prefix: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COUCHDB_URL": couch_url, "FIELDSYNC_DB_PREFIX": prefix}
    return subprocess.Popen(
        [sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def _conflicted(couch: CouchClient, db: str) -> set[str]:
    rows = (await couch.all_docs(db, include_docs=True, conflicts=True))["rows"]
    return {r["id"] for r in rows if r["id"].startswith("order:") and r["doc"].get("_conflicts")}


def outbox_id(user_id: str, record_id: str) -> str:
    """The outbox entry of the push about one conflict record (notifications.outbox ids)."""
    event = Event(EventKind.CONFLICT_OVERRIDDEN, user_id, dedupe_key=record_id)
    return f"outbox:{entry_local_id(event)}"


async def _records(couch: CouchClient, dbs: Databases) -> list[dict[str, Any]]:
    found = await couch.all_docs(
        dbs.ops, startkey="conflict_record:", endkey="conflict_record;", include_docs=True
    )
    return [r["doc"] for r in found["rows"]]


async def test_resolver_killed_mid_batch(
    couch_url: str, couch: CouchClient, dbs: Databases
) -> None:
    """``fieldsync worker`` SIGKILLed while it merges 240 conflicted orders, then restarted."""
    await ensure_databases(couch, dbs)
    await couch.create_db(dbs.rep("alice"))
    leaves = {}
    docs = []
    for i in range(CONFLICTS):
        base, phone_leaf, pda_leaf = conflicted_order(i)
        leaves[base["_id"]] = {phone_leaf["_rev"], pda_leaf["_rev"]}
        docs += [base, phone_leaf, pda_leaf]
    for start in range(0, len(docs), 300):
        assert await couch.bulk_docs(dbs.orders, docs[start : start + 300], new_edits=False) == []
    assert len(await _conflicted(couch, dbs.orders)) == CONFLICTS

    proc = _worker(couch_url, dbs.prefix)
    try:

        async def some_resolved() -> bool:
            return len(await _records(couch, dbs)) >= 20

        await wait_until(some_resolved, timeout=60, interval=0.02, message="resolutions begun")
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL
        still = await _conflicted(couch, dbs.orders)
        assert 0 < len(still) < CONFLICTS - 10  # killed in the middle of the batch

        proc = _worker(couch_url, dbs.prefix)

        async def all_resolved() -> bool:
            return not await _conflicted(couch, dbs.orders)

        await wait_until(all_resolved, timeout=90, interval=0.5, message="every order resolved")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    records = await _records(couch, dbs)
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_doc.setdefault(record["doc_id"], []).append(record)
    assert sorted(by_doc) == sorted(leaves)
    assert [d for d, rs in by_doc.items() if len(rs) != 1] == []  # one record per conflict
    rows = (await couch.all_docs(dbs.orders, include_docs=True))["rows"]
    for row in rows:
        doc = row["doc"]
        (record,) = by_doc[doc["_id"]]
        assert record["merged_rev"] == doc["_rev"]
        assert record["leaves"] == sorted(leaves[doc["_id"]])
        # exactly one resolution: the merged child of one leaf, a tombstone on the other
        revs = await couch.open_revs(dbs.orders, doc["_id"], "all")
        live = [r["ok"] for r in revs if not r["ok"].get("_deleted")]
        dead = [r["ok"] for r in revs if r["ok"].get("_deleted")]
        assert [x["_rev"] for x in live] == [doc["_rev"]] and len(dead) == 1
        assert doc["_rev"].startswith("3-") and dead[0]["_rev"].startswith("3-")
        parents = {f"2-{live[0]['_revisions']['ids'][1]}", f"2-{dead[0]['_revisions']['ids'][1]}"}
        assert parents == leaves[doc["_id"]]
        # nothing typed is lost: every line of both devices, the later l1 edit, the note
        assert {(x["line_id"], x["qty"], x["deleted"]) for x in doc["lines"]} == {
            ("l1", 5, False), ("la", 3, False), ("lb", 4, False)
        }  # fmt: skip
        assert doc["note"] == "Ring twice" and doc["total"] == order_total(doc["lines"])
        assert [(o["what"], o["lost_value"]["qty"]) for o in record["overridden"]] == [
            ("lines[l1]", 2)
        ]
    # alice is told once per resolution: one notification in her db each
    told = await couch.all_docs(
        dbs.rep("alice"), startkey="notification:conflict:", endkey="notification:conflict;"
    )
    assert sorted(r["id"] for r in told["rows"]) == sorted(
        notification_id(r["doc_id"], r["merged_rev"]) for r in records
    )
    # ... and one push each in the outbox, also for a resolution the kill cut short between
    # its record and its merge (the outbox entry id is derived from the user and the record)
    pushes = await couch.all_docs(
        dbs.ops, keys=[outbox_id("alice", r["_id"]) for r in records], include_docs=True
    )
    unpushed = [r["key"] for r in pushes["rows"] if "error" in r]
    assert unpushed == [], f"{len(unpushed)} resolution(s) never pushed to alice"
    assert {r["doc"]["kind"] for r in pushes["rows"]} == {"conflict_overridden"}
    # and nothing is left to do: a sweep writes nothing anywhere
    seqs = [(await couch.db_info(db))["update_seq"] for db in (dbs.orders, dbs.ops)]
    assert await Resolver(CouchConflictStore(couch, dbs), [dbs.orders, dbs.field]).sweep() == []
    assert [(await couch.db_info(db))["update_seq"] for db in (dbs.orders, dbs.ops)] == seqs


def _serve(port: int, couch_url: str, prefix: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "COUCHDB_URL": couch_url,
        "FIELDSYNC_PORT": str(port),
        "FIELDSYNC_DB_PREFIX": prefix,
        "FIELDSYNC_ADMIN_PASSWORD": "admin-pass",
        "FIELDSYNC_JWT_SECRET": "fault-test-secret-fault-test-secret",
        "FIELDSYNC_ARGON2_TIME_COST": "1",
        "FIELDSYNC_ARGON2_MEMORY_KIB": "64",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def _healthy(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{url}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def test_gateway_killed_mid_push(
    couch_url: str, couch: CouchClient, dbs: Databases, phone: Phone
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(port, couch_url, dbs.prefix)
    try:
        await wait_until(lambda: _healthy(url), timeout=60, message="the gateway up")
        world = World(type("S", (), {"url": url})(), await login(url, "admin", "admin-pass"))
        alice = await add_user(world, "alice", "rep")
        await phone.bulk_docs(orders("alice"))
        await phone.live_start(
            "push",
            alice.sync_url,
            direction="push",
            headers=alice.headers,
            options={"back_off_ms": 200, "batch_size": 20},
        )

        async def some_pushed() -> bool:
            return int((await couch.db_info(dbs.rep("alice")))["doc_count"]) >= 40

        await wait_until(some_pushed, timeout=60, message="the push to be under way")
        before_kill = int((await couch.db_info(dbs.rep("alice")))["doc_count"])
        proc.kill()
        proc.wait(10)
        assert before_kill < ORDERS  # the kill really was in the middle of the push
        proc = _serve(port, couch_url, dbs.prefix)
        await wait_until(lambda: _healthy(url), timeout=60, message="the gateway back")
        await assert_each_order_once(couch, dbs, phone, "alice")
        await phone.live_stop("push")
    finally:
        proc.terminate()
        proc.wait(15)


async def test_a_device_replaying_an_old_batch_changes_nothing(
    service_factory: Any, phone: Phone
) -> None:
    """A PDA that lost its checkpoint sends the same revisions again: no new revision anywhere."""
    service = await service_factory()
    world = World(service, await login(service.url, "admin", "admin-pass"))
    alice = await add_user(world, "alice", "rep")
    couch, dbs = service.runtime.couch, service.runtime.dbs
    batch = [
        {**doc, "_rev": f"1-{i:032x}", "_revisions": {"start": 1, "ids": [f"{i:032x}"]}}
        for i, doc in enumerate(orders("alice", 20), start=1)
    ]
    async with httpx.AsyncClient(headers=alice.headers) as http:
        first = await http.post(
            f"{alice.sync_url}/_bulk_docs", json={"docs": batch, "new_edits": False}
        )
        assert first.status_code == 201 and first.json() == []

        async def in_orders() -> bool:
            return int((await couch.db_info(dbs.orders))["doc_count"]) == 20

        await wait_until(in_orders, timeout=60, message="the batch in fs_orders")
        seq_rep = (await couch.db_info(dbs.rep("alice")))["update_seq"]
        for _ in range(3):  # replayed, as a device with a lost checkpoint would
            again = await http.post(
                f"{alice.sync_url}/_bulk_docs", json={"docs": batch, "new_edits": False}
            )
            assert again.status_code == 201 and again.json() == []
    assert (await couch.db_info(dbs.rep("alice")))["update_seq"] == seq_rep
    rows = (await couch.all_docs(dbs.orders, include_docs=True, conflicts=True))["rows"]
    assert len(rows) == 20
    assert all(r["doc"]["_rev"].startswith("1-") and "_conflicts" not in r["doc"] for r in rows)
