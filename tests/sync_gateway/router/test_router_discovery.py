"""The router finds writes it was not told about through the store's own notification.

Nothing here calls ``notify_rep_changed`` and the safety-net sweep is an hour away: a write made
straight into a rep database (as a gateway in another process does) must still reach fs_orders.
On CouchDB 3 that is ``_db_updates``; on PouchDB Server one continuous feed per rep database.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from polling import wait_until

from mobile_schema import sample
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases
from sync_gateway.router import Router
from sync_gateway.router.checkpoints import Checkpoints
from sync_gateway.router.discovery import offers_db_updates

HOUR = 3600.0


@pytest.fixture
async def running(couch: CouchClient, dbs: Databases) -> AsyncIterator[Router]:
    await ensure_databases(couch, dbs)
    await couch.create_db(dbs.rep("alice"))
    router = Router(
        couch, dbs, on_event=None, poll_interval_s=HOUR, rescan_interval_s=HOUR, heartbeat_ms=1000
    )
    task = asyncio.create_task(router.run())
    await wait_until(lambda: router.discovery is not None and router._started, timeout=30)
    yield router
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await router.stop()


async def in_orders(couch: CouchClient, dbs: Databases, doc_id: str) -> bool:
    return await couch.get_or_none(dbs.orders, doc_id) is not None


async def test_a_write_nobody_reports_reaches_fs_orders(
    couch: CouchClient, dbs: Databases, running: Router
) -> None:
    expected = "_db_updates" if await offers_db_updates(couch) else "per-database"
    assert running.discovery is not None and running.discovery.mode == expected
    for n in range(3):  # and again: the notification keeps coming, not only the first time
        order = sample("order", **{"_id": f"order:d-{n}"}, rep_id="alice", status="submitted")
        await couch.put(dbs.rep("alice"), order)
        await wait_until(
            lambda n=n: in_orders(couch, dbs, f"order:d-{n}"),
            timeout=20,
            message=f"order {n} found by {expected}",
        )
    assert running.status()["owned"] == 1


async def test_the_routers_own_copy_starts_no_drain_and_a_device_leaf_beside_it_does(
    couch: CouchClient, dbs: Databases, running: Router
) -> None:
    """On PouchDB Server the feed's rows say what was written: a drain for the router's own
    copy would find nothing to carry, but one for a device's leaf beside it must run."""
    if running.discovery is None or running.discovery.mode != "per-database":
        pytest.skip("only per-database feeds show the rows (_db_updates names the database)")
    marks: list[str] = []
    mark = running.drains.mark

    def counted(user_id: str) -> None:
        marks.append(user_id)
        mark(user_id)

    running.drains.mark = counted  # type: ignore[method-assign]
    rep_db = dbs.rep("alice")
    order = sample("order", **{"_id": "order:bo-1"}, rep_id="alice", status="confirmed")
    written = await couch.put(dbs.orders, order)  # the back office, fanned out to alice
    await wait_until(
        lambda: couch.get_or_none(rep_db, "order:bo-1"), timeout=20, message="the copy"
    )
    await asyncio.sleep(1.5)  # the feed's row for the copy has come (heartbeat 1 s)
    assert marks == []
    # a device's edit of an older state of it, straight into the rep database: a conflict
    leaf = "d" * 32
    parent = written["rev"].split("-", 1)[1]
    device = {**order, "_rev": f"2-{leaf}", "notes": "typed offline"}
    device["_revisions"] = {"start": 2, "ids": [leaf, parent]}
    await couch.bulk_docs(rep_db, [device], new_edits=False)
    await wait_until(lambda: marks == ["alice"], timeout=20, message="a drain for alice")

    async def carried() -> bool:
        doc = await couch.get(dbs.orders, "order:bo-1", params={"conflicts": "true"})
        return f"2-{leaf}" in [doc["_rev"], *doc.get("_conflicts", [])]

    await wait_until(carried, timeout=20, message="the device's leaf in fs_orders")


async def is_couchdb3(couch: CouchClient) -> bool:
    info = await couch.server_info()
    return str(info.get("version", "")).startswith("3.") and await offers_db_updates(couch)


async def test_db_updates_also_finds_a_new_rep_database(
    couch: CouchClient, dbs: Databases, running: Router
) -> None:
    if not os.environ.get("COUCHDB_URL") or not await is_couchdb3(couch):
        pytest.skip(
            "needs COUCHDB_URL pointing to a CouchDB 3 with _global_changes: PouchDB Server has "
            "no _db_updates (its per-database feeds are tested above)"
        )
    assert running.discovery is not None and running.discovery.mode == "_db_updates"
    # the rescan is an hour away: only the "created" row of _db_updates can tell the router
    await couch.create_db(dbs.rep("bob"))
    await wait_until(lambda: "bob" in running.users, timeout=20, message="bob's database found")
    order = sample("order", **{"_id": "order:b-1"}, rep_id="bob", status="submitted")
    await couch.put(dbs.rep("bob"), order)
    await wait_until(lambda: in_orders(couch, dbs, "order:b-1"), timeout=20, message="fan-in")
    status = running.status()["discovery"]
    assert status["connected"] and status["last_event_at"] is not None


class CountingCheckpoints(Checkpoints):
    """The router's checkpoint store, counting its reads (the I/O stays real)."""

    loads = 0

    async def load(self, source: str) -> Any:
        self.loads += 1
        return await super().load(source)


async def test_a_takeover_whose_checkpoint_read_fails_is_retried(
    couch: CouchClient, dbs: Databases, running: Router
) -> None:
    """A worker takes a bucket while the store does not answer it: the user's database is
    still followed once the store is back (it used to stay unfollowed until the hourly sweep)."""
    # alice followed and every event so far handled (on CouchDB, _db_updates reports the
    # database's creation late: it must not arrive in the middle), no drain in flight (it would
    # read the checkpoint itself); then the bucket goes to another worker and comes back
    first = sample("order", **{"_id": "order:before"}, rep_id="alice", status="submitted")
    await couch.put(dbs.rep("alice"), first)
    await wait_until(lambda: in_orders(couch, dbs, "order:before"), timeout=20, message="before")
    await wait_until(
        lambda: not running.drains.draining and not running._background,
        timeout=20,
        message="the router idle",
    )
    await running._let_go("alice")
    rep = running.state.rep("alice")
    assert rep is not None and not rep.loaded
    live = running.checkpoints
    unreachable = CouchClient("http://127.0.0.1:9", timeout=1.0)  # nothing listens there
    failing = CountingCheckpoints(unreachable, dbs.ops)
    running.checkpoints = running.ctx.checkpoints = failing  # the takeover's and the drains'
    running.retry_s = 0.1
    adopting = asyncio.create_task(running._adopt("alice"))
    try:
        await wait_until(lambda: failing.loads >= 3, timeout=20, message="attempts")
        assert not adopting.done()  # still trying, not given up after the first failure
        running.checkpoints = running.ctx.checkpoints = live  # the store answers again
        await wait_until(adopting.done, timeout=20, message="the takeover finished")
        assert adopting.exception() is None
        order = sample("order", **{"_id": "order:after"}, rep_id="alice", status="submitted")
        await couch.put(dbs.rep("alice"), order)
        await wait_until(
            lambda: in_orders(couch, dbs, "order:after"), timeout=20, message="followed again"
        )
    finally:
        adopting.cancel()
        await unreachable.aclose()
