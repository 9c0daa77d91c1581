"""``fieldsync worker``: the workers as a process of their own, without HTTP; and no way to run
the router that notifies no one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from polling import wait_until

from mobile_schema import sample, utc_now
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases
from sync_gateway.router.worker import Router


async def test_worker_process_fans_out_and_resolves(
    couch_url: str, couch: CouchClient, dbs: Databases
) -> None:
    await couch.create_db(dbs.rep("alice"))  # a field user's database, as the API creates it
    env = {
        **os.environ,
        "COUCHDB_URL": couch_url,
        "FIELDSYNC_DB_PREFIX": dbs.prefix,
        "FIELDSYNC_ROUTER_POLL_S": "0.5",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "field_api.cli",
        "--log-level",
        "WARNING",
        "worker",
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        await wait_until(lambda: couch.db_exists(dbs.orders), timeout=60, message="databases")
        order = sample("order", **{"_id": "order:w-1"}, rep_id="alice", status="submitted")
        await couch.put(dbs.orders, order)

        async def fanned_out() -> bool:
            return await couch.get_or_none(dbs.rep("alice"), "order:w-1") is not None

        await wait_until(fanned_out, timeout=60, message="the router in the worker process")
        # a conflict in fs_orders is resolved by the same process
        base = await couch.get(dbs.orders, "order:w-1")
        gen, _ = base["_rev"].split("-")
        leaves = [
            {
                **base,
                "note": note,
                "_rev": f"{int(gen) + 1}-{tag}",
                "_revisions": {"start": int(gen) + 1, "ids": [tag, base["_rev"].split("-")[1]]},
            }
            for note, tag in (("left", "a" * 32), ("right", "b" * 32))
        ]
        assert await couch.bulk_docs(dbs.orders, leaves, new_edits=False) == []

        async def resolved() -> bool:
            doc = await couch.get(dbs.orders, "order:w-1", conflicts=True)
            return "_conflicts" not in doc

        await wait_until(resolved, timeout=60, message="the resolver in the worker process")
        merged = await couch.get(dbs.orders, "order:w-1")
        assert merged["_rev"].startswith(f"{int(gen) + 2}-")  # a merged child, not a leaf
        assert merged["note"] in ("left", "right")
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_worker_once_notifies_what_it_routes(
    couch_url: str, couch: CouchClient, dbs: Databases
) -> None:
    """``worker --once`` copies an order confirmed by the back office into the rep's database
    AND queues the rep's push: the router never runs without the notifier (issue 17's trap)."""
    await ensure_databases(couch, dbs)
    await couch.create_db(dbs.rep("alice"))
    order = sample(
        "order", **{"_id": "order:w-2"}, rep_id="alice", status="confirmed", updated_at=utc_now()
    )
    await couch.put(dbs.orders, order)
    env = {**os.environ, "COUCHDB_URL": couch_url, "FIELDSYNC_DB_PREFIX": dbs.prefix}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "worker", "--once",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert await couch.get_or_none(dbs.rep("alice"), "order:w-2") is not None
    rows = await couch.all_docs(
        dbs.ops, startkey="outbox:", endkey="outbox:\ufff0", include_docs=True
    )
    entries = [(r["doc"]["user_id"], r["doc"]["kind"]) for r in rows["rows"]]
    assert ("alice", "order_confirmed") in entries


async def test_python_m_router_refuses_to_route_without_notifications(
    couch_url: str, couch: CouchClient, dbs: Databases
) -> None:
    """The old entry point built a Router without ``on_event``: it copied and told no one.
    Now it refuses, names the command to run, and copies nothing."""
    await ensure_databases(couch, dbs)
    await couch.create_db(dbs.rep("alice"))
    await couch.put(dbs.orders, sample("order", **{"_id": "order:w-3"}, rep_id="alice"))
    env = {**os.environ, "COUCHDB_URL": couch_url, "FIELDSYNC_DB_PREFIX": dbs.prefix}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sync_gateway.router", "--once",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "fieldsync worker" in err.decode() and "notifications" in err.decode()
    assert await couch.get_or_none(dbs.rep("alice"), "order:w-3") is None


def test_a_router_must_be_told_whom_to_notify(couch: CouchClient, dbs: Databases) -> None:
    with pytest.raises(TypeError, match="on_event"):
        Router(couch, dbs)  # type: ignore[call-arg]
    assert Router(couch, dbs, on_event=None).emitter.on_event is None  # "no one", on purpose
