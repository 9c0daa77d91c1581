"""Gateway vs CouchDB directly: same PouchDB phone, same data, same run.

1. Initial pull of a 20,000-document user database (10k products, 2k accounts, 5k contacts,
   3k orders): a fresh phone pulls it straight from CouchDB, another through the gateway.
2. Push of 1,000 new orders from a phone into an empty database, directly and through the gateway.
3. Idle live feeds: how many longpoll feeds one gateway process holds, its memory while it does,
   and how long a change takes to reach all of them.

Each timing runs ``--rounds`` times alternating direct / gateway; the median is compared.
The bar (DESIGN.md): ratio <= 1.15 for the pull and the push.

    .venv/bin/python -m bench gateway_sync [--rounds 3] [--docs 20000] [--feeds 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from mobile_schema import sample

from .common import Stack, ratio_line, rss_mb, stack


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


async def bench_pull(st: Stack, total: int, rounds: int) -> str:
    sync_url, headers = await st.user("bench")
    docs = rep_database(total)
    db = sync_url.rsplit("/", 1)[1]
    await fill(st, db, docs)
    direct_url = f"{st.couch_url}/{db}"
    direct, gateway = [], []
    for _ in range(rounds):
        direct.append(await timed_pull(direct_url, None, len(docs)))
        gateway.append(await timed_pull(sync_url, headers, len(docs)))
    return ratio_line(f"initial pull of {len(docs)} docs", direct, gateway, 1.15)


async def bench_push(st: Stack, n: int, rounds: int) -> str:
    direct, gateway = [], []
    for r in range(rounds):
        user = f"pusher{r}"
        sync_url, headers = await st.user(user)
        direct_db = f"{st.prefix}direct_push_{r}"
        await st.couch.create_db(direct_db)
        direct.append(
            await timed_push(f"{st.couch_url}/{direct_db}", None, new_orders(n, user, f"d{r}"))
        )
        gateway.append(await timed_push(sync_url, headers, new_orders(n, user, f"g{r}")))
    return ratio_line(f"push of {n} orders", direct, gateway, 1.15)


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
    async with stack() as st:
        print(f"# gateway vs CouchDB directly ({st.couch_url}), rounds={args.rounds}")
        print(await bench_pull(st, args.docs, args.rounds))
        print(await bench_push(st, args.orders, args.rounds))
        if args.feeds:
            for line in await bench_feeds(st, args.feeds, args.users):
                print(line)


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=1_000)
    parser.add_argument("--feeds", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=50)
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
