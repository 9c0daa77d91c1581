"""Scale-out: N gateway processes and M router workers on one store, 1,000 and 5,000 field users.

Everything runs as in the documented deployment: ``fieldsync serve`` with
``FIELDSYNC_RUN_WORKERS=false`` (the gateways; they tell no router anything) and ``fieldsync
worker`` (the workers, sharing the users by leases), against one store (the embedded PouchDB
Server, or ``COUCHDB_URL``). The workers reach the store through a counting proxy
(``bench/counting_proxy.py``, a process of its own), so their requests are counted by kind.

Per number of users it prints:

1. idle: the workers' requests per second with no writes at all (after the start has settled),
   per 1,000 users, and by kind (bar: the same at 1,000 and 5,000 users on CouchDB);
2. push -> fs_orders: every user pushes one order through a gateway (round robin, paced);
   from sending the push to the order's row in fs_orders' feed, p50 / p99 (bar: p99 < 1 s at
   1,000 users);
3. back office -> live phone: a sample of users hold a longpoll feed on a gateway; the back
   office confirms their orders in fs_orders; until the phone's feed shows it, p50 / p99;
4. the same pushes and confirmations again while the worker holding ``router-shared`` is killed
   (SIGKILL) in the middle: how long until the survivors hold every lease, p50 / p99 / max, and
   that every order is in fs_orders exactly once.

    .venv/bin/python -m bench scale_out [--users 1000 5000] [--gateways 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from mobile_schema import parse_timestamp, sample, utc_now
from sync_gateway.couch import CouchClient
from sync_gateway.couch.embedded import free_port
from sync_gateway.router.leases import BUCKETS

from .common import ADMIN_PASSWORD, couch_server
from .gateway_sync import _longpoll

FAST = {"FIELDSYNC_ARGON2_TIME_COST": "1", "FIELDSYNC_ARGON2_MEMORY_KIB": "64"}
LEASE_TTL_S = 15.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q) - 1)] if ordered else float("nan")


def figures(name: str, lat: list[float], expected: int) -> str:
    if not lat:
        return f"{name}: nothing arrived of {expected}"
    return (
        f"{name}: {len(lat)}/{expected} arrived, p50 {statistics.median(lat) * 1000:6.0f} ms, "
        f"p99 {pct(lat, 0.99) * 1000:6.0f} ms, max {max(lat) * 1000:6.0f} ms"
    )


def via(url: str, port: int) -> str:
    """``url`` (with its credentials) pointed at 127.0.0.1:``port``."""
    parts = urlsplit(url)
    cred = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{cred}127.0.0.1:{port}", "", "", ""))


class Deployment:
    def __init__(self, couch_url: str, prefix: str, logs: Path) -> None:
        self.couch_url = couch_url
        self.prefix = prefix
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gateways: list[str] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.proxy_url = ""
        self.jwt_secret = secrets.token_hex(32)  # one secret shared by every process

    def _spawn(self, args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        out = (self.logs / log).open("wb")
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=out)
        self.procs.append(proc)
        return proc

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            **FAST,
            "COUCHDB_URL": self.couch_url,
            "FIELDSYNC_DB_PREFIX": self.prefix,
            "FIELDSYNC_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "FIELDSYNC_JWT_SECRET": self.jwt_secret,
            **extra,
        }

    async def start(self, n_gateways: int) -> None:
        proxy_port = free_port()
        self._spawn(
            [sys.executable, "-m", "bench.counting_proxy", str(proxy_port), self.couch_url],
            dict(os.environ),
            "proxy.log",
        )
        self.proxy_url = via(self.couch_url, proxy_port)
        for n in range(n_gateways):
            port = free_port()
            self._spawn(
                [sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "serve"],
                self.env(FIELDSYNC_PORT=str(port), FIELDSYNC_RUN_WORKERS="false"),
                f"gateway{n}.log",
            )
            self.gateways.append(f"http://127.0.0.1:{port}")
        async with httpx.AsyncClient() as http:
            for url in [*self.gateways, f"http://127.0.0.1:{proxy_port}"]:
                for _ in range(600):
                    with contextlib.suppress(httpx.HTTPError):
                        path = "/__counts" if url.endswith(str(proxy_port)) else "/healthz"
                        if (await http.get(url + path)).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError(f"{url} did not start")

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn(
            [sys.executable, "-m", "field_api.cli", "--log-level", "WARNING", "worker"],
            self.env(
                COUCHDB_URL=self.proxy_url,
                FIELDSYNC_ROUTER_LEASE_TTL_S=str(LEASE_TTL_S),
            ),
            f"worker{len(self.workers)}.log",
        )
        self.workers.append(proc)
        return proc

    async def counts(self) -> dict[str, int]:
        base = self.proxy_url.split("@")[-1] if "@" in self.proxy_url else self.proxy_url
        base = base if base.startswith("http") else "http://" + base
        async with httpx.AsyncClient() as http:
            result: dict[str, int] = (await http.get(f"{base}/__counts")).json()
            return result

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def create_users(gateway: str, n: int, tag: str) -> list[tuple[str, str, str]]:
    """(user id, sync path, token) for ``n`` new reps."""
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=gateway, timeout=120) as http:
        resp = await http.post(
            "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        admin = {"Authorization": f"Bearer {resp.json()['access_token']}"}

        async def one(i: int) -> tuple[str, str, str]:
            uid, pw = f"{tag}{i}", f"{tag}{i}-pw-123"
            async with sem:
                r = await http.post(
                    "/api/v1/users",
                    headers=admin,
                    json={"id": uid, "name": uid, "role": "rep", "password": pw},
                )
                assert r.status_code in (201, 409), r.text
                t = await http.post("/api/v1/auth/token", data={"username": uid, "password": pw})
                token = t.json()["access_token"]
                me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            return uid, "/sync/" + me.json()["sync_url"].split("/sync/")[1], token

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def leases(couch: CouchClient, ops: str) -> dict[str, dict[str, Any]]:
    rows = (
        await couch.all_docs(
            ops, startkey="lease:router-", endkey="lease:router-\ufff0", include_docs=True
        )
    )["rows"]
    now = time.time()
    return {
        r["id"]: r["doc"]
        for r in rows
        if r.get("doc") and parse_timestamp(r["doc"]["expires_at"]).timestamp() > now
    }


async def wait_for(probe: Any, limit_s: float, what: str) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def orders_feed(couch: CouchClient, db: str) -> AsyncIterator[dict[str, float]]:
    """Arrival time of every order id in fs_orders' feed from now on."""
    arrived: dict[str, float] = {}

    async def follow() -> None:
        async for row in couch.changes_stream(db, since="now", heartbeat_ms=5000):
            arrived.setdefault(row["id"], time.perf_counter())

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.5)
    try:
        yield arrived
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def push_all(
    gateways: list[str], users: list[tuple[str, str, str]], suffix: str, rate: float,
    on_half: Any = None,
) -> tuple[dict[str, float], dict[str, float]]:  # fmt: skip
    """Each user pushes one order through a gateway (round robin), ``rate`` pushes a second."""
    sent: dict[str, float] = {}
    stored: dict[str, float] = {}  # when the gateway answered (the order is in the rep db)
    clients = [httpx.AsyncClient(base_url=g, timeout=120) for g in gateways]
    sem = asyncio.Semaphore(64)

    async def one(i: int, uid: str, path: str, token: str) -> None:
        doc = sample("order", **{"_id": f"order:{uid}-{suffix}"}, rep_id=uid, status="submitted")
        async with sem:
            sent[doc["_id"]] = time.perf_counter()
            for attempt in range(3):  # as a phone's replicator retries a dropped request
                try:
                    r = await clients[i % len(clients)].post(
                        f"{path}/_bulk_docs",
                        json={"docs": [doc]},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
                    await asyncio.sleep(1)
        stored[doc["_id"]] = time.perf_counter()
        assert r.status_code == 201 and "error" not in r.json()[0], r.text

    tasks = []
    try:
        for i, (uid, path, token) in enumerate(users):
            tasks.append(asyncio.create_task(one(i, uid, path, token)))
            if on_half is not None and i == len(users) // 2:
                on_half()
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
    finally:
        for c in clients:
            await c.aclose()
    return sent, stored


async def confirm_to_phones(
    couch: CouchClient, orders_db: str, gateways: list[str], sample_users: list[Any],
    suffix: str, status: str, on_half: Any = None,
) -> list[float]:  # fmt: skip
    """The back office moves each sampled user's order on; time until their phone's feed shows
    it (a longpoll on a gateway, and the next one, as a connected phone holds)."""
    written: dict[str, float] = {}
    ready = 0
    all_ready = asyncio.Event()

    async def phone(i: int, uid: str, path: str, token: str) -> float:
        nonlocal ready
        host, port = gateways[i % len(gateways)].split("//")[1].split(":")
        since = (await couch.db_info(path.rsplit("/", 1)[1]))["update_seq"]
        conn = None
        ready += 1
        if ready == len(sample_users):
            all_ready.set()
        try:
            while True:
                body, conn = await _longpoll(host, int(port), path, token, since, conn)
                since = body["last_seq"]
                doc_id = f"order:{uid}-{suffix}"
                if doc_id in written and any(r["id"] == doc_id for r in body["results"]):
                    return time.perf_counter() - written[doc_id]
        finally:
            if conn is not None:
                conn[1].close()

    phones = [asyncio.create_task(phone(i, *u)) for i, u in enumerate(sample_users)]
    await all_ready.wait()
    await asyncio.sleep(max(2.0, len(sample_users) / 100))  # their feeds settle
    for i, (uid, _path, _token) in enumerate(sample_users):
        doc = await couch.get(orders_db, f"order:{uid}-{suffix}")
        now = utc_now()
        doc.update(status=status, updated_at=now, updated_by="backoffice")
        if status == "confirmed":
            doc["confirmed_at"] = now
        written[doc["_id"]] = time.perf_counter()
        await couch.put(orders_db, doc)
        if on_half is not None and i == len(sample_users) // 2:
            on_half()
        await asyncio.sleep(0.01)
    done, pending = await asyncio.wait(phones, timeout=120)
    for task in pending:
        task.cancel()
    return [t.result() for t in done if not t.exception()]


class Printed(list[str]):
    """Lines printed as they are added, so a later phase failing keeps the earlier figures."""

    def append(self, line: str) -> None:
        print(line, flush=True)
        super().append(line)


async def one_size(url: str, n_users: int, args: argparse.Namespace) -> list[str]:
    prefix = f"so{int(time.time())}_"
    logs = Path(tempfile.mkdtemp(prefix="fieldsync-scale-"))
    dep = Deployment(url, prefix, logs)
    couch = CouchClient(url, max_connections=400)
    out = Printed()
    out.append(
        f"## {n_users} users, {args.gateways} gateways, {args.workers} workers (logs {logs})"
    )
    try:
        await dep.start(args.gateways)
        t0 = time.monotonic()
        users = await create_users(dep.gateways[0], n_users, "f")
        out.append(f"users created in {time.monotonic() - t0:.0f} s")
        for _ in range(args.workers):
            dep.start_worker()
        ops, orders_db = f"{prefix}fs_ops", f"{prefix}fs_orders"

        async def balanced() -> bool:
            dead = [w.pid for w in dep.workers if w.poll() is not None]
            if dead:
                raise RuntimeError(f"worker(s) {dead} exited: see {logs}")
            held = await leases(couch, ops)
            holders = {d["holder"] for i, d in held.items() if "bucket" in i}
            n_buckets = sum(1 for i in held if "bucket" in i)
            return n_buckets == BUCKETS and len(holders) == args.workers

        await wait_for(balanced, 600, "the workers to share the buckets")

        async def settled() -> bool:
            """Every worker done with its start (the drain and reconciliation of every rep
            database) and nothing notified left to carry."""
            shown = await leases(couch, ops)
            details = [d.get("details", {}) for i, d in shown.items() if "worker:" in i]
            return len(details) == args.workers and all(
                d.get("phase") == "routing" and not d.get("dirty") and not d.get("draining")
                for d in details
            )

        t0 = time.monotonic()
        await wait_for(settled, 1200, "the workers' start to finish")
        out.append(f"workers settled {time.monotonic() - t0:.0f} s after sharing the buckets")
        await asyncio.sleep(args.settle)
        before = await dep.counts()
        await asyncio.sleep(args.idle)
        after = await dep.counts()
        diff = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        total = sum(diff.values()) / args.idle
        kinds = ", ".join(
            f"{k} {v / args.idle:.2f}" for k, v in sorted(diff.items(), key=lambda x: -x[1]) if v
        )
        out.append(
            f"idle: {total:.2f} requests/s from the workers, {total / (n_users / 1000):.2f} per "
            f"1,000 users ({kinds})"
        )
        shown = await leases(couch, ops)
        modes = {
            d.get("details", {}).get("discovery", {}).get("mode")
            for i, d in shown.items()
            if "worker:" in i
        }
        out.append(f"discovery: {sorted(m for m in modes if m)}")

        if args.idle_only:
            return out
        rate = args.rate
        async with orders_feed(couch, orders_db) as arrived:
            sent, stored = await push_all(dep.gateways, users, "a", rate)
            await wait_for(lambda: _all_in(arrived, sent), 120, "phase 1 orders")
        lat = [arrived[i] - t for i, t in sent.items() if i in arrived]
        out.append(figures(f"push -> fs_orders ({rate:.0f}/s)", lat, len(sent)))
        lat = [arrived[i] - t for i, t in stored.items() if i in arrived]
        out.append(figures("  of which from the gateway's answer (the router's part)", lat,
                           len(sent)))  # fmt: skip

        sample_users = users[: min(args.phones, n_users)]
        lat = await confirm_to_phones(couch, orders_db, dep.gateways, sample_users, "a",
                                      "confirmed")  # fmt: skip
        out.append(figures(f"back office -> live phone ({len(sample_users)} phones)", lat,
                           len(sample_users)))  # fmt: skip

        # the same with the worker that holds router-shared killed in the middle
        held = await leases(couch, ops)
        victim_pid = int(held["lease:router-shared"]["holder"].split(":")[-2])
        victim = next(p for p in dep.workers if p.pid == victim_pid)
        killed_at: list[float] = []
        killed = asyncio.Event()

        def kill() -> None:
            if not killed_at:
                victim.send_signal(signal.SIGKILL)
                killed_at.append(time.monotonic())
                killed.set()

        async def taken_over() -> float | None:
            held = await leases(couch, ops)
            pids = {int(d["holder"].split(":")[-2]) for i, d in held.items() if "worker:" not in i}
            full = (
                sum(1 for i in held if "bucket" in i) == BUCKETS and "lease:router-shared" in held
            )
            return time.monotonic() - killed_at[0] if full and victim_pid not in pids else None

        async def watch_takeover() -> float:
            """Polled from the kill on (not after the pushes and the confirmations: that
            measured how long those took, not the takeover)."""
            await killed.wait()
            return float(await wait_for(taken_over, 120, "the survivors to take over"))

        async with orders_feed(couch, orders_db) as arrived:
            watching = asyncio.create_task(watch_takeover())
            pushing = asyncio.create_task(push_all(dep.gateways, users, "b", rate, kill))
            phones = await confirm_to_phones(couch, orders_db, dep.gateways, sample_users, "a",
                                             "shipped")  # fmt: skip
            sent, stored = await pushing
            takeover = await watching
            await wait_for(lambda: _all_in(arrived, sent), 180, "phase 2 orders")
        lat = [arrived[i] - t for i, t in sent.items() if i in arrived]
        out.append(f"worker {victim_pid} killed: survivors held every lease {takeover:.1f} s "
                   f"later (lease {LEASE_TTL_S:.0f} s)")  # fmt: skip
        out.append(figures("  push -> fs_orders, kill in the middle", lat, len(sent)))
        out.append(figures("  back office -> live phone, same run", phones, len(sample_users)))
        rows = (await couch.all_docs(orders_db, conflicts=True, include_docs=True))["rows"]
        ids = [r["id"] for r in rows if r["id"].startswith("order:f")]
        conflicted = sum(1 for r in rows if r.get("doc", {}).get("_conflicts"))
        out.append(
            f"  fs_orders: {len(ids)} orders for {2 * n_users} pushed, "
            f"{len(ids) - len(set(ids))} duplicates, {conflicted} conflicted"
        )
    finally:
        dep.stop()
        with contextlib.suppress(Exception):
            for db in await couch.all_dbs():
                if db.startswith(prefix):
                    await couch.delete_db(db)
        await couch.aclose()
    return out


async def _all_in(arrived: dict[str, float], sent: dict[str, float]) -> bool:
    return all(i in arrived for i in sent)


async def main(args: argparse.Namespace) -> None:
    async with couch_server() as url:
        print(f"# scale-out ({'COUCHDB_URL' if os.environ.get('COUCHDB_URL') else 'embedded'})")
        for n in args.users:
            await one_size(url, n, args)  # prints as it goes


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="pushes per second (1,000 reps pushing 40 orders in a day's last hour: 11/s)",
    )
    parser.add_argument("--phones", type=int, default=200, help="live phones sampled")
    parser.add_argument("--settle", type=float, default=10.0, help="s after the start settled")
    parser.add_argument("--idle", type=float, default=30.0, help="s of the idle window")
    parser.add_argument(
        "--idle-only", action="store_true", help="stop after the idle figure (large user counts)"
    )
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
