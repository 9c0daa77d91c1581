"""The service as deployed vs CouchDB directly: same PouchDB phone, same data, same run.

Two service processes share one CouchDB-protocol server (each with its own database prefix):
the service as ``make run`` runs it, with its workers (router, resolver, notifications), and
the same service with ``FIELDSYNC_RUN_WORKERS=false``, the gateway alone, shown beside it for
diagnosis. Embedded PouchDB Server by default, the CouchDB at ``COUCHDB_URL`` when set.

1. Initial pull of a 20,000-document user database (10k products, 2k accounts, 5k contacts,
   3k orders): fresh phones pull it straight from CouchDB, through the service, through the
   gateway alone. Timed once the router has carried the orders in and the snapshot builder
   has built the database's first snapshot (one full read, done once per new database);
   printed with it: the CouchDB requests each actor sent while the service served a pull.
2. Push of 1,000 new orders from a phone (PouchDB's batches of 100) into a new user's database,
   the same three ways; then how long after the push ends the last order is in fs_orders
   (the router's fan-in), and where a pushed batch's time went: per batch, the service's own
   steps (``fieldsync_stage_seconds``) and its CouchDB requests by actor
   (``fieldsync_couch_request_seconds``, see sync_gateway/work.py), read from ``/metrics``.
3. Idle live feeds (the service with workers): how many longpoll feeds one process holds, its
   memory while it does, and how long a change takes to reach all of them.

Each timing runs ``--rounds`` times alternating direct / service / gateway alone; medians are
compared. Bars (issue 15): push <= 1.15, pull <= 1.10, with workers on.

    .venv/bin/python -m bench gateway_sync [--rounds 6] [--docs 20000] [--feeds 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from mobile_schema import sample
from sync_gateway.snapshots.store import snapshot_doc_id

from .common import Stack, couch_server, ratio_line, rss_mb, stack


def rep_database(total: int) -> list[dict[str, Any]]:
    shares = {"product": 10, "account": 2, "contact": 5, "order": 3}
    unit = total / sum(shares.values())
    docs: list[dict[str, Any]] = []
    for doc_type, share in shares.items():
        for i in range(round(unit * share)):
            local = f"{doc_type[0]}{i:06d}"
            extra: dict[str, Any] = {"_id": f"{doc_type}:{local}"}
            if doc_type == "product":
                extra["sku"] = local
            if doc_type == "order":
                extra["rep_id"] = "bench"
            docs.append(sample(doc_type, **extra))
    return docs[:total]


def new_orders(n: int, rep: str, tag: str) -> list[dict[str, Any]]:
    return [sample("order", **{"_id": f"order:{tag}-{i:05d}"}, rep_id=rep) for i in range(n)]


async def fill(st: Stack, db: str, docs: list[dict[str, Any]]) -> None:
    await st.couch.create_db(db)
    for start in range(0, len(docs), 1000):
        await st.couch.bulk_docs(db, docs[start : start + 1000])


async def timed_pull(url: str, headers: dict[str, str] | None, expect: int) -> float:
    from support.phone import Phone  # type: ignore[import-not-found]

    async with Phone(replication_timeout=900) as phone:
        await phone.start(Path(tempfile.mkdtemp(prefix="bench-phone-")))
        started = time.perf_counter()
        result = await phone.pull(url, headers=headers, log_requests=False)
        elapsed = time.perf_counter() - started
    assert result["docs_written"] == expect, result
    return elapsed


async def timed_push(url: str, headers: dict[str, str] | None, docs: list[dict[str, Any]]) -> float:
    from support.phone import Phone  # type: ignore[import-not-found]

    async with Phone(replication_timeout=900) as phone:
        await phone.start(Path(tempfile.mkdtemp(prefix="bench-phone-")))
        await phone.bulk_docs(docs)
        started = time.perf_counter()
        result = await phone.push(url, headers=headers, log_requests=False)
        elapsed = time.perf_counter() - started
    assert result["docs_written"] == len(docs) and not result["doc_write_failures"], result
    return elapsed


async def settle_fan_in(
    st: Stack, user: str, docs: list[dict[str, Any]], deadline_s: float
) -> float:
    """Seconds until every order of ``docs`` is in fs_orders (the router's fan-in)."""
    started = time.perf_counter()
    orders = f"{st.prefix}fs_orders"
    last = max(d["_id"] for d in docs)
    keys = [d["_id"] for d in docs]
    while time.perf_counter() - started < deadline_s:
        rows = (await st.couch.all_docs(orders, keys=[last]))["rows"]
        if rows and "value" in rows[0]:
            elapsed = time.perf_counter() - started
            rows = (await st.couch.all_docs(orders, keys=keys))["rows"]
            if all("value" in r for r in rows):
                return elapsed
        await asyncio.sleep(0.02)
    raise RuntimeError(f"{user}'s orders did not reach fs_orders in {deadline_s} s")


async def wait_for_snapshot(st: Stack, user: str, deadline_s: float) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        if await st.couch.get_or_none(f"{st.prefix}fs_ops", snapshot_doc_id(user)):
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"no snapshot of {user}'s database in {deadline_s} s")


async def scrape(st: Stack) -> dict[tuple[str, ...], tuple[float, float]]:
    """``{(metric, labels...): (sum, count)}`` of the service's stage and request histograms."""
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"{st.gateway_url}/metrics")).text
    out: dict[tuple[str, ...], list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("fieldsync_stage_seconds", "fieldsync_couch_request_seconds"):
            continue
        for sample_ in family.samples:
            if sample_.name.endswith("_sum") or sample_.name.endswith("_count"):
                labels = sample_.labels
                key = (
                    (family.name, labels["actor"], labels["stage"])
                    if "stage" in labels
                    else (family.name, labels["actor"], labels["op"], labels["db"])
                )
                slot = out.setdefault(key, [0.0, 0.0])
                slot[0 if sample_.name.endswith("_sum") else 1] = sample_.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def delta(
    before: dict[tuple[str, ...], tuple[float, float]],
    after: dict[tuple[str, ...], tuple[float, float]],
) -> dict[tuple[str, ...], tuple[float, float]]:
    out = {}
    for key, (total, count) in after.items():
        b_total, b_count = before.get(key, (0.0, 0.0))
        if count - b_count > 0:
            out[key] = (total - b_total, count - b_count)
    return out


def add(
    into: dict[tuple[str, ...], list[float]], part: dict[tuple[str, ...], tuple[float, float]]
) -> None:
    for key, (total, count) in part.items():
        slot = into.setdefault(key, [0.0, 0.0])
        slot[0] += total
        slot[1] += count


def breakdown(
    on: dict[tuple[str, ...], list[float]], off: dict[tuple[str, ...], list[float]]
) -> list[str]:
    """Per pushed batch (one gateway ``_bulk_docs``): ms and count of each step and request."""

    def batches(m: dict[tuple[str, ...], list[float]]) -> float:
        return m.get(("fieldsync_stage_seconds", "gateway", "store"), [0.0, 0.0])[1] or 1.0

    n_on, n_off = batches(on), batches(off)
    lines = [
        f"per pushed batch ({n_on:.0f} batches with workers, {n_off:.0f} without): "
        "ms of wall time summed over the step's calls / calls (CouchDB requests: to headers)",
        f"  {'actor':<14}{'step or request':<28}{'with workers':>20}{'gateway alone':>20}",
    ]
    keys = sorted(set(on) | set(off), key=lambda k: (k[1] != "gateway", k[1], k[0], k[2:]))
    for key in keys:
        metric, actor, *what = key
        label = ("step " if metric == "fieldsync_stage_seconds" else "") + " ".join(what)

        def cell(m: dict[tuple[str, ...], list[float]], n: float, key: Any = key) -> str:
            total, count = m.get(key, [0.0, 0.0])
            return f"{total * 1000 / n:8.1f} ms {count / n:5.1f}x" if count else f"{'-':>17}"

        lines.append(f"  {actor:<14}{label:<28}{cell(on, n_on):>20}{cell(off, n_off):>20}")
    return lines


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f}"


async def bench_pull(on: Stack, off: Stack, total: int, rounds: int) -> list[str]:
    docs = rep_database(total)
    targets = []
    for st in (on, off):
        sync_url, headers = await st.user("bench")
        await fill(st, sync_url.rsplit("/", 1)[1], docs)
        targets.append((sync_url, headers))
    # the filled database's orders are the user's: let the router carry them in first
    await settle_fan_in(on, "bench", [d for d in docs if d["type"] == "order"], 300)
    # and the snapshot builder build the new database's first snapshot (a phone meets the
    # workers after that one build; during it, a plain pull shares the store with a full read)
    await wait_for_snapshot(on, "bench", 300)
    await asyncio.sleep(5)
    direct_url = f"{on.couch_url}/{targets[0][0].rsplit('/', 1)[1]}"
    runs: dict[str, list[float]] = {"direct": [], "on": [], "off": []}
    urls = {"direct": (direct_url, None), "on": targets[0], "off": targets[1]}
    during: dict[tuple[str, ...], list[float]] = {}  # the service's requests while it serves
    loads = [load()]
    for r in range(rounds):
        for way in ORDERS[r % len(ORDERS)]:
            before = await scrape(on) if way == "on" else {}
            runs[way].append(await timed_pull(*urls[way], len(docs)))
            if way == "on":
                add(during, delta(before, await scrape(on)))
    loads.append(load())
    return [
        ratio_line(f"initial pull of {len(docs)} docs", runs["direct"], runs["on"], 1.10),
        ratio_line("  (gateway alone, no workers)", runs["direct"], runs["off"], 1.10),
        f"  {loads[0]} at the start, {loads[1]} at the end",
        *pull_breakdown(during, rounds),
    ]


def pull_breakdown(during: dict[tuple[str, ...], list[float]], rounds: int) -> list[str]:
    """Per pull with the workers on: the CouchDB requests each actor sent meanwhile (what the
    workers do while a phone pulls competes with it for the store)."""
    lines = [f"  per pull with workers on (of {rounds}): CouchDB requests sent meanwhile, by actor"]
    for (metric, actor, *what), (total, count) in sorted(during.items()):
        if metric == "fieldsync_couch_request_seconds":
            label = " ".join(what)
            lines.append(
                f"    {actor:<14}{label:<28}{count / rounds:8.1f}x {total * 1000 / rounds:9.1f} ms"
            )
    return lines


# the order of the three ways in each round rotates, so no way always follows another's
# trailing work (the service's fan-in and what it sets off run on after its push)
ORDERS = [("direct", "on", "off"), ("on", "off", "direct"), ("off", "direct", "on")]


async def bench_push(on: Stack, off: Stack, n: int, rounds: int) -> list[str]:
    runs: dict[str, list[float]] = {"direct": [], "on": [], "off": []}
    fan_in: list[float] = []
    spent_on: dict[tuple[str, ...], list[float]] = {}
    spent_off: dict[tuple[str, ...], list[float]] = {}
    loads = [load()]
    for r in range(rounds):
        user = f"pusher{r}"
        on_url, on_headers = await on.user(user)
        off_url, off_headers = await off.user(user)
        direct_db = f"{on.prefix}direct_push_{r}"
        await on.couch.create_db(direct_db)
        await asyncio.sleep(1.0)  # the new users' first router rounds are not the push's
        for way in ORDERS[r % len(ORDERS)]:
            if way == "direct":
                docs = new_orders(n, user, f"d{r}")
                runs[way].append(await timed_push(f"{on.couch_url}/{direct_db}", None, docs))
            elif way == "on":
                docs = new_orders(n, user, f"g{r}")
                before = await scrape(on)
                runs[way].append(await timed_push(on_url, on_headers, docs))
                fan_in.append(await settle_fan_in(on, user, docs, 60))
                await asyncio.sleep(2.0)  # what the fan-in sets off (resolver, notifications)
                add(spent_on, delta(before, await scrape(on)))
            else:
                before = await scrape(off)
                runs[way].append(
                    await timed_push(off_url, off_headers, new_orders(n, user, f"a{r}"))
                )
                add(spent_off, delta(before, await scrape(off)))
            await asyncio.sleep(1.0)
    loads.append(load())
    p50 = statistics.median(fan_in)
    return [
        ratio_line(f"push of {n} orders", runs["direct"], runs["on"], 1.15),
        ratio_line("  (gateway alone, no workers)", runs["direct"], runs["off"], 1.15),
        f"push end -> every order in fs_orders  median {p50:.2f}s, max {max(fan_in):.2f}s "
        f"(bar 1 s)  {'ok' if p50 <= 1.0 else 'OVER THE BAR'}   "
        f"runs {[round(x, 2) for x in fan_in]}",
        f"  {loads[0]} at the start, {loads[1]} at the end",
        *breakdown(spent_on, spent_off),
    ]


async def _longpoll(
    host: str, port: int, path: str, token: str, since: Any, conn: tuple[Any, Any] | None
) -> tuple[dict[str, Any], tuple[Any, Any]]:
    """One longpoll on a kept-alive raw connection (httpx's pool is quadratic in connections,
    which would make the client, not the gateway, the bottleneck at thousands of feeds)."""
    if conn is None:
        conn = await asyncio.open_connection(host, port)
    reader, writer = conn
    writer.write(
        f"GET {path}/_changes?feed=longpoll&since={since}&heartbeat=30000&timeout=60000 "
        f"HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"feed answered {status!r}")
    while (await reader.readline()).strip():
        pass  # headers; the body is chunked
    body = b""
    while True:
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            break
        body += await reader.readexactly(size)
        await reader.readline()
    return orjson.loads(body.strip()), conn


async def bench_feeds(st: Stack, n_feeds: int, users: int) -> list[str]:
    """Hold ``n_feeds`` live feeds over ``users`` databases, as phones do (a longpoll, and the
    next one when it ends), then change every database once and time each feed's delivery."""
    host, port = st.gateway_url.split("//")[1].split(":")
    before = rss_mb(st.gateway_pid)
    dbs: list[tuple[str, str]] = []
    for u in range(users):
        sync_url, headers = await st.user(f"feeder{u}")
        dbs.append(("/sync/" + sync_url.split("/sync/")[1], headers["Authorization"].split()[1]))
    waiting = 0
    all_waiting = asyncio.Event()
    wake_sent: dict[str, float] = {}

    async def feed(i: int) -> float:
        nonlocal waiting
        path, token = dbs[i % users]
        since: Any = "now"
        conn = None
        first = True
        while True:
            if first:
                waiting += 1
                if waiting == n_feeds:
                    all_waiting.set()
                first = False
            body, conn = await _longpoll(host, int(port), path, token, since, conn)
            since = body["last_seq"]
            if any(r["id"] == "order:wake" for r in body["results"]):
                conn[1].close()
                return time.perf_counter() - wake_sent[path]

    started = time.perf_counter()
    tasks = [asyncio.create_task(feed(i)) for i in range(n_feeds)]
    await all_waiting.wait()
    await asyncio.sleep(3)  # let every first request reach its wait
    open_s = time.perf_counter() - started
    held = rss_mb(st.gateway_pid)
    for path, _ in dbs:
        db = path.rsplit("/", 1)[1]
        wake_sent[path] = time.perf_counter()
        await st.couch.put(db, sample("order", **{"_id": "order:wake"}, rep_id=db.split("rep_")[1]))
    done, pending = await asyncio.wait(tasks, timeout=60)
    for task in pending:
        task.cancel()
    ok = sorted(t.result() for t in done if not t.exception())
    failures: dict[str, int] = {}
    for t in done:
        if t.exception():
            name = repr(t.exception())[:80]
            failures[name] = failures.get(name, 0) + 1
    p50 = statistics.median(ok) if ok else float("nan")
    p99 = ok[max(0, int(len(ok) * 0.99) - 1)] if ok else float("nan")
    return [
        f"idle live feeds held                {n_feeds} longpolls over {users} user databases "
        f"(open in {open_s:.1f}s)",
        f"gateway memory                      {before:.0f} MB before, {held:.0f} MB holding them "
        f"({(held - before) * 1024 / max(1, n_feeds):.1f} KB per feed)",
        f"change -> every feed                {len(ok)}/{n_feeds} delivered within 60 s; "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (one write per database)",
        *(f"  feed failures: {count} x {name}" for name, count in failures.items()),
        *([f"  still waiting after 60 s: {len(pending)}"] if pending else []),
    ]


async def main(args: argparse.Namespace) -> None:
    async with couch_server() as url, stack(True, url) as on, stack(False, url) as off:
        print(f"# the service (workers on) vs CouchDB directly ({url}), rounds={args.rounds}")
        if args.docs:
            for line in await bench_pull(on, off, args.docs, args.rounds):
                print(line, flush=True)
        if args.orders:
            for line in await bench_push(on, off, args.orders, args.rounds):
                print(line, flush=True)
        if args.feeds:
            for line in await bench_feeds(on, args.feeds, args.users):
                print(line, flush=True)


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=1_000)
    parser.add_argument("--feeds", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=50)
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
