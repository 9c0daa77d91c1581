"""``fieldsync worker``: the workers as a process of their own, without HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from polling import wait_until

from mobile_schema import sample
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases


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
