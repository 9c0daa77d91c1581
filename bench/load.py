"""Many field users at once: the same day's traffic straight to CouchDB and through the gateway.

Each simulated user is a phone speaking the CouchDB replication protocol as PouchDB does (an
asyncio task with its own ``httpx.AsyncClient``, bodies parsed with orjson):

1. initial pull of their database, all users at once (the morning): ``GET`` db info,
   ``GET _local`` checkpoint, ``_changes?style=all_docs&since=&limit=100``, ``_bulk_get`` of what
   the phone lacks, ``PUT _local`` after each batch;
2. then a live feed held for the rest of the run (``feed=longpoll&heartbeat=10000``, re-polled
   when it answers; what it brings is fetched with ``_bulk_get`` and checkpointed), and the
   day's work from ``bench/load_world.py`` at seeded times over ``--minutes``: order pushes and
   visit-note pushes (``GET`` db, ``GET _local``, ``_revs_diff`` of every document the phone
   changed or received since its last push, ``_bulk_docs`` with ``new_edits=false`` and
   ``_revisions``, ``PUT _local``), one-shot re-pulls, and back-office changes written straight
   into the user's database by an admin client (as the router writes them), which the live feed
   must deliver.

The same users, documents and operation sequence run twice in one PouchDB Server: first
directly, each user on a database of their own created with the admin client and filled with
the same documents, then through the gateway (``fieldsync serve``, users made with the REST API,
Bearer tokens). The gateway runs with ``workers=False``: the router's fan-in of pushed orders and
notes would add CouchDB work to the gateway run only, and the back-office changes are written
into the rep databases here as the router would, so both runs give CouchDB the same work.

Reported per request type and per operation (whole replications; "live change" is back-office
write -> the user's live feed answering with it): count, rate over the run, p50 / p99 latency,
errors (non-2xx other than the first checkpoint ``GET``'s 404; exceptions; documents refused
in a ``_bulk_docs`` answer; ``_bulk_get`` entries with an error; live changes not delivered
within 30 s), for both runs; the ratio of p50s; total request rate and its ratio; the gateway's
memory before the gateway run, its peak and after. The load generator shares the machine's
cores with PouchDB Server and the gateway, in both runs.

    .venv/bin/python -m bench load [--users 200] [--docs 300] [--ops 8] [--minutes 0.5]
                                   [--seed 8]

Last measured (2026-11-24, after the aiohttp hop and the continuous hub watches, this 2-core
machine, embedded PouchDB Server, the defaults: 200 users x 300 docs, 8 operations each over a
30 s day; nothing else running). Requests and whole operations; "p50 ratio" is gateway / direct:

                      count         p50 ms          p99 ms      errors  p50 ratio
                   direct / gw    direct / gw     direct / gw
    GET db         1395 / 1395       9 / 37        449 / 923    0 / 0    4.27
    GET _local     1395 / 1395       6 / 22        364 / 406    0 / 0    3.95
    PUT _local     4303 / 3949       9 / 84       1163 / 1417   0 / 0    9.71
    _changes       1037 / 1037     728 / 838      1800 / 1661   0 / 0    1.15
    _bulk_get      1005 / 1005    1018 / 983      1349 / 1478   0 / 0    0.97
    _revs_diff     1558 / 1558       7 / 61         74 / 262    0 / 0    9.35
    _bulk_docs      958 / 958        5 / 24         73 / 318    0 / 0    4.44
    initial pull    200 / 200    10258 / 11413   10493 / 11639  0 / 0    1.11
    order push      642 / 642       34 / 108       756 / 2113   0 / 0    3.20
    note push       316 / 316       30 / 113       738 / 2243   0 / 0    3.74
    re-pull         237 / 237       22 / 75        335 / 959    0 / 0    3.37
    live change     405 / 405        8 / 25        155 / 605    0 / 0    3.33

    requests/s: direct 287, gateway 270, ratio 0.94 (run 41 s direct, 42 s gateway)
    morning pull, all 200 users at once: direct 10.6 s, gateway 12.2 s, ratio 1.16
    gateway RSS: 93 MB before, 153 MB peak, 151 MB after
    same docs and revs in both databases after the day: 200/200 users

The gateway keeps up (same throughput, no errors); what remains is latency of small requests
under load: a few tens of ms through the gateway where CouchDB answers in a few. The gateway
process is far from busy then (about 45% of a core, by ``top``); the time is spent waiting on
PouchDB Server, which serves the gateway's requests more slowly than the phones' own (cause
not found yet). At commit c3faec5 (httpx for the CouchDB hop) the same run gave 63 requests/s
against 268 (ratio 0.24) and pushes taking 19 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from sync_gateway.couch import CouchClient
from sync_gateway.couch.client import split_credentials

from .common import Stack, rss_mb, stack
from .load_world import Op, UserPlan, plan

FAST = {"FIELDSYNC_ARGON2_TIME_COST": "1", "FIELDSYNC_ARGON2_MEMORY_KIB": "64"}
BATCH = 100  # PouchDB's batch_size
DELIVERY_WAIT_S = 30.0
REQUESTS = ["GET db", "GET _local", "PUT _local", "_changes", "_bulk_get", "_revs_diff"]
REQUESTS += ["_bulk_docs", "longpoll"]
OPERATIONS = ["initial pull", "order push", "note push", "re-pull", "live change"]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)  # first error of each kind
    elapsed: float = 0.0
    pull_storm: float = 0.0

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        self.samples.setdefault(kind, what[:300])


@dataclass
class Target:
    """Where one user's phone replicates: a database URL and its headers."""

    url: str
    headers: dict[str, str]
    db: str  # the database name, for the back office's writes
    auth: tuple[str, str] | None = None


def _rev_key(rev: str) -> tuple[int, str]:
    gen, _, digest = rev.partition("-")
    return int(gen), digest


class Phone:
    def __init__(self, user: str, target: Target, http: httpx.AsyncClient, stats: Stats) -> None:
        self.user = user
        self.target = target
        self.http = http
        self.stats = stats
        self.known: set[tuple[str, str]] = set()  # (id, rev) the phone holds
        self.winner: dict[str, str] = {}  # id -> its winning revision on the phone
        self.local_log: list[str] = []  # the phone's own changes feed: ids, as stored
        self.pushed_upto = 0
        self.own: dict[str, dict[str, Any]] = {}  # documents written on the phone, by id
        self.local_revs: dict[str, str] = {}  # checkpoint id -> its _rev on the server
        self.pulled_since: Any = 0
        self.stopping = False  # the day is over: the live feed ends after what it is doing
        self.polling = False  # the live feed is waiting in a longpoll (safe to cut)
        self.session = uuid.uuid4().hex

    async def call(self, kind: str, method: str, path: str, **kw: Any) -> httpx.Response:
        if "content" in kw:
            kw["headers"] = {"Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            resp = await self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.stats.error(kind, f"{method} {path}: {exc!r}")
            raise
        self.stats.latencies[kind].append(time.perf_counter() - started)
        if resp.status_code >= 300 and not (kind == "GET _local" and resp.status_code == 404):
            self.stats.error(kind, f"{method} {path} -> {resp.status_code} {resp.text[:200]}")
        return resp

    def store(self, doc_id: str, rev: str) -> None:
        """Keep a revision as a phone's database does: an older one fetched late (a feed row
        read before the phone's own newer edit) does not become the winner."""
        self.known.add((doc_id, rev))
        current = self.winner.get(doc_id)
        if current is None or _rev_key(rev) > _rev_key(current):
            self.winner[doc_id] = rev
        self.local_log.append(doc_id)

    async def checkpoint(self, name: str) -> Any:
        resp = await self.call("GET _local", "GET", f"/_local/{name}")
        if resp.status_code != 200:
            return 0
        body = orjson.loads(resp.content)
        self.local_revs[name] = body["_rev"]
        return body.get("last_seq", 0)

    async def save_checkpoint(self, name: str, seq: Any) -> None:
        doc: dict[str, Any] = {
            "session_id": self.session,
            "last_seq": seq,
            "history": [{"session_id": self.session, "last_seq": seq}],
            "replicator": "pouchdb",
            "version": 1,
        }
        if name in self.local_revs:
            doc["_rev"] = self.local_revs[name]
        resp = await self.call("PUT _local", "PUT", f"/_local/{name}", content=orjson.dumps(doc))
        if resp.status_code < 300:
            self.local_revs[name] = orjson.loads(resp.content)["rev"]

    async def fetch(self, rows: list[dict[str, Any]]) -> None:
        """What a changes batch lists and the phone lacks (PouchDB asks its own db), fetched."""
        wanted = [
            {"id": r["id"], "rev": c["rev"]}
            for r in rows
            for c in r["changes"]
            if (r["id"], c["rev"]) not in self.known
        ]
        if not wanted:
            return
        resp = await self.call(
            "_bulk_get",
            "POST",
            "/_bulk_get",
            params={"revs": "true", "latest": "true"},
            content=orjson.dumps({"docs": wanted}),
        )
        if resp.status_code >= 300:
            return
        for result in orjson.loads(resp.content)["results"]:
            for entry in result["docs"]:
                if "ok" in entry:
                    self.store(entry["ok"]["_id"], entry["ok"]["_rev"])
                else:
                    self.stats.error("_bulk_get", f"{result['id']}: {entry}")

    async def pull(self, name: str) -> None:
        await self.call("GET db", "GET", "")
        since = await self.checkpoint(name)
        while True:
            resp = await self.call(
                "_changes",
                "GET",
                "/_changes",
                params={"style": "all_docs", "since": since, "limit": BATCH},
            )
            if resp.status_code >= 300:
                return
            body = orjson.loads(resp.content)
            await self.fetch(body["results"])
            since = body["last_seq"]
            await self.save_checkpoint(name, since)
            if len(body["results"]) < BATCH:
                self.pulled_since = since
                return

    async def push(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            self.own[doc["_id"]] = doc
            self.store(doc["_id"], doc["_rev"])
        await self.call("GET db", "GET", "")
        name = f"push-{self.user}"
        await self.checkpoint(name)
        while self.pushed_upto < len(self.local_log):
            end = min(len(self.local_log), self.pushed_upto + BATCH)
            latest = {i: self.winner[i] for i in self.local_log[self.pushed_upto : end]}
            resp = await self.call(
                "_revs_diff",
                "POST",
                "/_revs_diff",
                content=orjson.dumps({i: [r] for i, r in latest.items()}),
            )
            if resp.status_code >= 300:
                return
            missing = [
                self.own[i]
                for i in orjson.loads(resp.content)
                if i in self.own and self.own[i]["_rev"] == latest[i]
            ]
            if missing:
                resp = await self.call(
                    "_bulk_docs",
                    "POST",
                    "/_bulk_docs",
                    content=orjson.dumps({"docs": missing, "new_edits": False}),
                )
                if resp.status_code < 300:
                    for failure in orjson.loads(resp.content):  # new_edits=false: only failures
                        self.stats.error("_bulk_docs", f"refused: {failure}")
            self.pushed_upto = end
            await self.save_checkpoint(name, end)

    async def live(self, delivered: Callable[[str, str], None]) -> None:
        """The held live feed: longpoll, fetch what it brings, checkpoint, poll again."""
        since = self.pulled_since
        while not self.stopping:
            try:
                self.polling = True
                resp = await self.call(
                    "longpoll",
                    "GET",
                    "/_changes",
                    params={
                        "style": "all_docs",
                        "feed": "longpoll",
                        "heartbeat": 10000,
                        "since": since,
                        "limit": BATCH,
                    },
                    timeout=httpx.Timeout(30, read=90),
                )
                self.polling = False
                if resp.status_code >= 300:
                    await asyncio.sleep(1)
                    continue
                body = orjson.loads(resp.content.strip())
                for row in body["results"]:
                    for change in row["changes"]:
                        delivered(row["id"], change["rev"])
                if body["results"]:
                    await self.fetch(body["results"])
                    await self.save_checkpoint(f"live-{self.user}", body["last_seq"])
                since = body["last_seq"]
            except (httpx.HTTPError, orjson.JSONDecodeError, KeyError):
                self.polling = False
                await asyncio.sleep(1)  # PouchDB retries a cut feed after a back-off


async def timed(stats: Stats, kind: str, work: Awaitable[None]) -> None:
    started = time.perf_counter()
    try:
        await work
    except (httpx.HTTPError, orjson.JSONDecodeError, KeyError) as exc:
        stats.error(kind, repr(exc))
        return
    stats.latencies[kind].append(time.perf_counter() - started)


async def run(
    plans: list[UserPlan],
    targets: dict[str, Target],
    admin: CouchClient,
    on_tick: Callable[[], None],
) -> Stats:
    """One run of the whole day for every user against ``targets``."""
    stats = Stats()
    written: dict[tuple[str, str, str], float] = {}
    pending: dict[str, set[tuple[str, str]]] = defaultdict(set)  # user -> (id, rev) not seen
    caught_up: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
    ssl_context = ssl.create_default_context()  # one for all clients: building one costs ~20 ms
    pulled = 0
    all_pulled = asyncio.Event()

    async def user_day(p: UserPlan) -> None:
        nonlocal pulled
        target = targets[p.user]
        async with httpx.AsyncClient(
            base_url=target.url,
            headers={**target.headers, "X-Device-Id": f"{p.user}-phone"},
            auth=target.auth,
            verify=ssl_context,
            timeout=httpx.Timeout(60, connect=10),
            limits=httpx.Limits(max_connections=4, keepalive_expiry=2.0),
        ) as http:
            phone = Phone(p.user, target, http, stats)

            def delivered(doc_id: str, rev: str) -> None:
                if (doc_id, rev) in pending[p.user]:
                    pending[p.user].discard((doc_id, rev))
                    lag = time.perf_counter() - written[(p.user, doc_id, rev)]
                    stats.latencies["live change"].append(lag)
                    if not pending[p.user]:
                        caught_up[p.user].set()

            try:
                await timed(stats, "initial pull", phone.pull("pull"))
            finally:
                pulled += 1
                if pulled == len(plans):
                    all_pulled.set()
            feed = asyncio.create_task(phone.live(delivered))
            day = time.perf_counter()
            try:
                for op in p.ops:
                    await asyncio.sleep(max(0.0, day + op.at - time.perf_counter()))
                    await do(op, p.user, phone, target)
                if pending[p.user]:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(caught_up[p.user].wait(), DELIVERY_WAIT_S)
            finally:
                # cut the feed only while it waits, so no request is abandoned half-sent
                phone.stopping = True
                if phone.polling:
                    feed.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed

    async def do(op: Op, user: str, phone: Phone, target: Target) -> None:
        if op.kind == "order":
            await timed(stats, "order push", phone.push(op.docs))
        elif op.kind == "note":
            await timed(stats, "note push", phone.push(op.docs))
        elif op.kind == "repull":
            await timed(stats, "re-pull", phone.pull("pull"))
        elif op.kind == "office":
            for doc in op.docs:
                written[(user, doc["_id"], doc["_rev"])] = time.perf_counter()
                pending[user].add((doc["_id"], doc["_rev"]))
                caught_up[user].clear()
            await admin.bulk_docs(target.db, op.docs, new_edits=False)

    started = time.perf_counter()
    storm = asyncio.create_task(all_pulled.wait())
    days = [asyncio.create_task(user_day(p)) for p in plans]
    ticker = asyncio.create_task(_tick(on_tick))
    await storm
    stats.pull_storm = time.perf_counter() - started
    results = await asyncio.gather(*days, return_exceptions=True)
    stats.elapsed = time.perf_counter() - started
    ticker.cancel()
    for failure in (r for r in results if isinstance(r, BaseException)):
        stats.error("user task", repr(failure))
    for user, missed in pending.items():
        for doc_id, rev in missed:
            stats.error(
                "live change", f"{user}: {doc_id} {rev} not delivered in {DELIVERY_WAIT_S}s"
            )
    return stats


async def _tick(on_tick: Callable[[], None]) -> None:
    while True:
        on_tick()
        await asyncio.sleep(0.25)


async def prepare(
    st: Stack, plans: list[UserPlan], parallel: int
) -> tuple[dict[str, Target], dict[str, Target]]:
    """Users and their databases, filled with the same documents: direct, and on the gateway."""
    direct: dict[str, Target] = {}
    gateway: dict[str, Target] = {}
    base, auth = split_credentials(st.couch_url)
    limit = asyncio.Semaphore(parallel)

    async def one(p: UserPlan) -> None:
        async with limit:
            sync_url, headers = await st.user(p.user)
            rep_db = sync_url.rsplit("/", 1)[1]
            direct_db = f"{st.prefix}direct_{p.user}"
            await st.couch.create_db(direct_db)
            for db in (direct_db, rep_db):
                await st.couch.bulk_docs(db, p.initial, new_edits=False)
            direct[p.user] = Target(f"{base.rstrip('/')}/{direct_db}", {}, direct_db, auth)
            gateway[p.user] = Target(sync_url, headers, rep_db)

    await asyncio.gather(*(one(p) for p in plans))
    return direct, gateway


async def compare(
    st: Stack, plans: list[UserPlan], direct: dict[str, Target], gateway: dict[str, Target]
) -> str:
    """After both runs every user's two databases hold the same documents at the same revisions,
    all the plan wrote: the gateway stored exactly what CouchDB did."""
    differ: list[str] = []
    for p in plans:
        expected = {d["_id"] for d in p.initial} | {d["_id"] for op in p.ops for d in op.docs}
        held = []
        for target in (direct[p.user], gateway[p.user]):
            rows = (await st.couch.all_docs(target.db))["rows"]
            held.append({r["id"]: r["value"]["rev"] for r in rows})
        if held[0] != held[1] or set(held[0]) != expected:
            odd = sorted(
                f"{i}: direct {held[0].get(i)}, gateway {held[1].get(i)}"
                for i in expected | set(held[0]) | set(held[1])
                if held[0].get(i) != held[1].get(i) or i not in held[0]
            )
            differ.append(f"{p.user} ({'; '.join(odd[:3])})")
    same = len(plans) - len(differ)
    return f"{same}/{len(plans)} users" + (f"; differ: {', '.join(differ[:5])}" if differ else "")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]


def _cells(stats: Stats, kind: str) -> tuple[str, float | None]:
    lat = stats.latencies.get(kind, [])
    rate = len(lat) / stats.elapsed if stats.elapsed else 0.0
    err = stats.errors.get(kind, 0)
    if not lat or kind == "longpoll":
        return f"{len(lat):>6} {rate:7.1f} {'':>7} {'':>7} {err:>5}", None
    p50 = statistics.median(lat) * 1000
    return f"{len(lat):>6} {rate:7.1f} {p50:7.1f} {_pct(lat, 0.99) * 1000:7.1f} {err:>5}", p50


def report(args: argparse.Namespace, direct: Stats, gateway: Stats, memory: list[float]) -> None:
    head = f"{'n':>6} {'/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'err':>5}"
    print(f"{'direct / gateway':<14}| {head} | {head} | p50 ratio")
    for kind in REQUESTS + OPERATIONS:
        d, d50 = _cells(direct, kind)
        g, g50 = _cells(gateway, kind)
        ratio = f"{g50 / d50:5.2f}" if d50 and g50 else ""
        print(f"{kind:<14}| {d} | {g} | {ratio}")
    totals = []
    for stats in (direct, gateway):
        n = sum(len(v) for k, v in stats.latencies.items() if k in REQUESTS and k != "longpoll")
        totals.append(n / stats.elapsed)
    print(
        f"requests/s    | direct {totals[0]:.0f}, gateway {totals[1]:.0f}, "
        f"ratio {totals[1] / totals[0]:.2f}  (run {direct.elapsed:.0f} s / {gateway.elapsed:.0f} s"
        f"; the day's schedule is {args.minutes * 60:.0f} s after each user's initial pull)"
    )
    print(
        f"morning pull  | all {args.users} users at once: direct {direct.pull_storm:.1f} s, "
        f"gateway {gateway.pull_storm:.1f} s, ratio {gateway.pull_storm / direct.pull_storm:.2f}"
    )
    print(
        f"gateway RSS   | {memory[0]:.0f} MB before, {memory[1]:.0f} MB peak, "
        f"{memory[2]:.0f} MB after"
    )
    for label, stats in (("direct", direct), ("gateway", gateway)):
        for kind, sample in stats.samples.items():
            print(f"  {label} {kind} error ({stats.errors[kind]}x), first: {sample}")


async def main(args: argparse.Namespace) -> None:
    users = [f"field{i:04d}" for i in range(args.users)]
    plans = [plan(u, args.docs, args.ops, args.minutes, args.seed) for u in users]
    async with stack(workers=False, **FAST) as st:
        t0 = time.perf_counter()
        direct_targets, gateway_targets = await prepare(st, plans, args.parallel)
        n_docs = sum(len(p.initial) for p in plans)
        print(
            f"# many field users at once: {args.users} users, {n_docs // args.users} docs each, "
            f"{args.ops} ops each over {args.minutes:g} min, seed {args.seed} "
            f"(set up in {time.perf_counter() - t0:.0f} s; {st.couch_url})"
        )
        direct = await run(plans, direct_targets, st.couch, lambda: None)
        before = rss_mb(st.gateway_pid)
        peak = [before]

        def sample_memory() -> None:
            peak[0] = max(peak[0], rss_mb(st.gateway_pid))

        gateway = await run(plans, gateway_targets, st.couch, sample_memory)
        after = rss_mb(st.gateway_pid)
        report(args, direct, gateway, [before, max(peak[0], after), after])
        agree = await compare(st, plans, direct_targets, gateway_targets)
        print(f"same docs and revs in both databases after the day: {agree}")


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--docs", type=int, default=300, help="documents in each user's db")
    parser.add_argument("--ops", type=int, default=8, help="operations of each user's day")
    parser.add_argument("--minutes", type=float, default=0.5, help="length of the day's schedule")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=8, help="users set up at once")
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
