"""Two router workers as processes of their own share the users; one is killed mid-push.

The gateway serves ``/sync`` without workers (``run_workers=False``), so it tells no router
anything: the workers find the pushes through the store (``_db_updates`` or per-database feeds).
Orders are pushed by the field users through the gateway while one worker is killed with
SIGKILL; every order must be in fs_orders exactly once (one document, the revision pushed, no
conflict) and the survivor must hold every bucket within two lease periods of the kill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
from polling import wait_until
from support.world import World, add_user, login

from mobile_schema import parse_timestamp, sample
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
from sync_gateway.router.leases import BUCKETS, bucket_of

TTL_S = 5.0
USERS = 20
ORDERS_PER_USER = 50  # 1,000 orders
BATCH = 10


async def leases(couch: CouchClient, dbs: Databases) -> dict[str, dict[str, Any]]:
    rows = (
        await couch.all_docs(
            dbs.ops, startkey="lease:router-", endkey="lease:router-\ufff0", include_docs=True
        )
    )["rows"]
    return {r["id"]: r["doc"] for r in rows if r.get("doc")}


def live_holders(docs: dict[str, dict[str, Any]], what: str) -> dict[str, str]:
    """lease id -> holder, for the live leases whose id starts with ``what``."""
    now = time.time()
    out = {}
    for doc_id, doc in docs.items():
        if doc_id.startswith(what):
            if parse_timestamp(doc["expires_at"]).timestamp() > now:
                out[doc_id] = doc["holder"]
    return out


def bucket_lease(user_id: str) -> str:
    return f"lease:router-bucket:{bucket_of(user_id):02d}"


def pid_of(holder: str) -> int:
    return int(holder.split(":")[-2])


async def test_killed_worker_loses_no_order_and_the_survivor_takes_its_users(
    couch_url: str, couch: CouchClient, dbs: Databases, service_factory: Any
) -> None:
    service = await service_factory(run_workers=False)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    users = [await add_user(world, f"rep{n:02d}", "rep") for n in range(USERS)]
    assert len({bucket_of(u.id) for u in users}) > 4  # the users spread over buckets

    env = {
        **os.environ,
        "COUCHDB_URL": couch_url,
        "FIELDSYNC_DB_PREFIX": dbs.prefix,
        "FIELDSYNC_ROUTER_LEASE_TTL_S": str(TTL_S),
        "FIELDSYNC_ROUTER_POLL_S": "3600",  # the safety net must not be what finds the pushes
    }
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            [sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:

        async def balanced() -> dict[str, str] | None:
            held = live_holders(await leases(couch, dbs), "lease:router-bucket:")
            per = {h: sum(1 for x in held.values() if x == h) for h in set(held.values())}
            ok = len(held) == BUCKETS and sorted(per.values()) == [BUCKETS // 2] * 2
            return held if ok else None

        held = await wait_until(balanced, timeout=90, interval=0.2, message="two workers share")
        victim = pid_of(next(iter(held.values())))
        survivor = next(p for p in procs if p.pid != victim)
        victim_users = [
            u for u in users if pid_of(held[f"lease:router-bucket:{bucket_of(u.id):02d}"]) == victim
        ]
        assert victim_users

        pushed: list[str] = []
        killed_at: list[float] = []
        killed = asyncio.Event()

        async def survivor_holds_all() -> bool:
            docs = await leases(couch, dbs)
            held = live_holders(docs, "lease:router-bucket:")
            shared = live_holders(docs, "lease:router-shared")
            holders = {pid_of(h) for h in {**held, **shared}.values()}
            return len(held) == BUCKETS and len(shared) == 1 and holders == {survivor.pid}

        async def takeover() -> float:
            await killed.wait()
            await wait_until(
                survivor_holds_all,
                timeout=2 * TTL_S,  # from the kill
                interval=0.1,
                message="the survivor holding every bucket within two lease periods",
            )
            return time.monotonic() - killed_at[0]

        async def push(user: Any) -> None:
            async with httpx.AsyncClient(
                base_url=service.url, auth=(user.id, user.password), timeout=60
            ) as http:
                path = "/sync/" + (user.sync_url or "").split("/sync/")[1]
                for start in range(0, ORDERS_PER_USER, BATCH):
                    docs = [
                        sample("order", **{"_id": f"order:{user.id}-{n}"}, rep_id=user.id,
                               status="submitted")
                        for n in range(start, start + BATCH)
                    ]  # fmt: skip
                    resp = await http.post(f"{path}/_bulk_docs", json={"docs": docs})
                    assert resp.status_code == 201, resp.text
                    assert all("error" not in r for r in resp.json()), resp.text
                    pushed.extend(d["_id"] for d in docs)
                    if len(pushed) >= USERS * ORDERS_PER_USER * 0.3 and not killed_at:
                        os.kill(victim, signal.SIGKILL)  # mid-batch: it is carrying pushes
                        killed_at.append(time.monotonic())
                        killed.set()

        taken = asyncio.create_task(takeover())
        await asyncio.gather(*(push(u) for u in users))
        assert killed_at and len(pushed) == USERS * ORDERS_PER_USER
        assert await taken < 2 * TTL_S

        async def all_in_orders() -> bool:
            rows = (await couch.all_docs(dbs.orders))["rows"]
            return len([r for r in rows if r["id"].startswith("order:rep")]) == len(pushed)

        await wait_until(all_in_orders, timeout=120, interval=0.5, message="every order")
        rows = (await couch.all_docs(dbs.orders, include_docs=True, conflicts=True))["rows"]
        orders = {r["id"]: r["doc"] for r in rows if r["id"].startswith("order:rep")}
        assert sorted(orders) == sorted(pushed)  # each once, none missing
        for user in users:
            pushed_rows = (await couch.all_docs(dbs.rep(user.id), include_docs=True))["rows"]
            for row in pushed_rows:
                if not row["id"].startswith("order:"):
                    continue
                doc = orders[row["id"]]
                assert doc["_rev"] == row["value"]["rev"]  # the revision pushed, not a copy of it
                assert "_conflicts" not in doc
                assert doc["_rev"].startswith("1-")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
