"""Router: back-office change -> connected phone's live feed, and filling a new rep database.

1. Latency: N field users (default 100 and 1,000), each with a live longpoll feed open on the
   gateway (what a connected phone holds); the back office confirms one order per user in
   fs_orders; the time from each write to that user's feed delivering it. p50 / p99
   (bar: p99 under 1 s at 1,000 users).
2. Fill: a territory of ``--fill`` documents (accounts and contacts) is given to a new rep; the
   time until their database holds all of it, against CouchDB's own ``_replicate`` of the same
   documents into an empty database, in the same run.

    .venv/bin/python -m bench router_latency [--users 100 1000] [--fill 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx

from mobile_schema import sample, utc_now

from .common import Stack, stack
from .gateway_sync import _longpoll, delta, scrape

FAST = {"FIELDSYNC_ARGON2_TIME_COST": "1", "FIELDSYNC_ARGON2_MEMORY_KIB": "64"}


async def until(probe: Any, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not await probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def latency(st: Stack, n_users: int, tag: str) -> str:
    users = []
    for i in range(n_users):
        sync_url, headers = await st.user(f"{tag}{i}")
        users.append(
            (
                f"{tag}{i}",
                "/sync/" + sync_url.split("/sync/")[1],
                headers["Authorization"].split()[1],
            )
        )
    orders_db = f"{st.prefix}fs_orders"
    docs = [
        sample("order", **{"_id": f"order:{u}"}, rep_id=u, status="submitted") for u, _, _ in users
    ]
    for start in range(0, len(docs), 500):
        await st.couch.bulk_docs(orders_db, docs[start : start + 500])

    async def fanned_out() -> bool:
        rows = (await st.couch.all_docs(f"{st.prefix}rep_{users[-1][0]}"))["rows"]
        return bool(rows)

    await until(fanned_out, 300, "the orders to reach the rep databases")
    host, port = st.gateway_url.split("//")[1].split(":")
    seqs = {u: (await st.couch.db_info(f"{st.prefix}rep_{u}"))["update_seq"] for u, _, _ in users}
    current = {
        row["id"]: row["doc"]
        for row in (await st.couch.all_docs(orders_db, include_docs=True))["rows"]
        if row["id"].startswith(f"order:{tag}")
    }
    written: dict[str, float] = {}
    listening = asyncio.Event()
    count = 0

    async def phone(user_id: str, path: str, token: str, arrived: asyncio.Future[float]) -> None:
        """A connected phone's live feed: longpoll, and the next one; it stays connected after
        its order came, as a phone does (one that went away would be sent a push)."""
        nonlocal count
        since: Any = seqs[user_id]
        conn = None
        count += 1
        if count == len(users):
            listening.set()
        try:
            while True:
                body, conn = await _longpoll(host, int(port), path, token, since, conn)
                since = body["last_seq"]
                # the confirmation, not the submitted order's copy arriving late
                mine = any(r["id"] == f"order:{user_id}" for r in body["results"])
                if mine and user_id in written and not arrived.done():
                    arrived.set_result(time.perf_counter() - written[user_id])
        except Exception as exc:
            if not arrived.done():
                arrived.set_exception(exc)
            raise
        finally:
            if conn is not None:
                conn[1].close()

    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    arrivals = [loop.create_future() for _ in users]
    feeds = [asyncio.create_task(phone(*u, a)) for u, a in zip(users, arrivals, strict=True)]
    await listening.wait()

    # every phone's feed open and waiting, and the store quiet again: a thousand phones
    # connecting in the same second keep PouchDB Server busy for a while (each opens a watch on
    # its database), which phones connecting through a morning never do. The time it took is
    # printed: it is what such a burst costs.
    async def all_open() -> bool:  # a phone whose feed failed is reported below, not awaited
        return await feeds_open(st, n_users - sum(t.done() for t in feeds))

    await until(all_open, 600, "every feed to be open")
    idle_from = await quiet(st)
    connect_s = time.perf_counter() - started
    idle_s = 5.0
    await asyncio.sleep(idle_s)
    before = await scrape(st)
    t_start = time.perf_counter()
    for user_id, _, _ in users:
        doc = current[f"order:{user_id}"]
        written[user_id] = time.perf_counter()
        now = utc_now()  # as the back office's confirm does: the rep is notified of it too
        await st.couch.put(
            orders_db,
            {**doc, "status": "confirmed", "confirmed_at": now, "updated_at": now,
             "updated_by": "backoffice"},
        )  # fmt: skip
        await asyncio.sleep(0.002)  # a busy back office, not one bulk write
    done, _ = await asyncio.wait(arrivals, timeout=120)
    busy_s = time.perf_counter() - t_start
    after = await scrape(st)
    for task in feeds:
        task.cancel()
    await asyncio.gather(*feeds, return_exceptions=True)
    failed = [t.exception() for t in done if t.exception()]
    results = [t.result() for t in done if not t.exception()]
    lat = sorted(x for x in results if isinstance(x, float) and x == x)
    p50 = statistics.median(lat)
    p90 = lat[max(0, int(len(lat) * 0.90) - 1)]
    p99 = lat[max(0, int(len(lat) * 0.99) - 1)]
    verdict = "ok" if p99 < 1.0 else "OVER THE BAR"
    lines = [
        *([f"  {len(failed)} phones' feeds failed, the first: {failed[0]!r}"] if failed else []),
        f"  {n_users} phones connecting at once: every feed waiting, the store quiet, after"
        f" {connect_s:.1f} s",
        *requests_by_actor(delta(idle_from, before), idle_s, "feeds held, nothing written"),
        *requests_by_actor(delta(before, after), busy_s, "confirmations until the last arrived"),
    ]
    return (
        "\n".join(lines)
        + "\n"
        + (
            f"back office -> live feed, {n_users:>5} users: {len(lat)}/{n_users} arrived, "
            f"p50 {p50 * 1000:6.0f} ms, p90 {p90 * 1000:6.0f} ms, p99 {p99 * 1000:6.0f} ms, "
            f"max {lat[-1] * 1000:6.0f} ms (bar p99 < 1000 ms) {verdict}"
        )
    )


async def feeds_open(st: Stack, n: int) -> bool:
    """Whether ``n`` longpolls are open on the gateway (``fieldsync_open_feeds``)."""
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"{st.gateway_url}/metrics")).text
    for line in text.splitlines():
        if line.startswith('fieldsync_open_feeds{feed="longpoll"}'):
            return float(line.split()[-1]) >= n
    return False


async def quiet(st: Stack, per_s: float = 20.0) -> dict[tuple[str, ...], tuple[float, float]]:
    """Wait until the service makes fewer than ``per_s`` store requests a second; the last
    scrape."""
    last = await scrape(st)
    while True:
        await asyncio.sleep(1.0)
        now = await scrape(st)
        made = sum(c for k, (_, c) in delta(last, now).items() if k[0].endswith("request_seconds"))
        last = now
        if made < per_s:
            return now


def requests_by_actor(
    during: dict[tuple[str, ...], tuple[float, float]], seconds: float, what: str
) -> list[str]:
    """The service's CouchDB requests in a phase, per actor and operation: count, per second,
    mean time (the hub's continuous feeds count when they end)."""
    rows = sorted(
        ((k[1], k[2], k[3], total, count) for k, (total, count) in during.items()
         if k[0] == "fieldsync_couch_request_seconds"),
        key=lambda r: -r[4],
    )  # fmt: skip
    by_op: dict[tuple[str, str], list[float]] = {}
    for actor, op, db, total, count in rows:
        slot = by_op.setdefault((actor, f"{op} {db}"), [0.0, 0.0])
        slot[0] += total
        slot[1] += count
    out = [f"  {what} ({seconds:.1f} s): service -> store requests"]
    for (actor, op), (total, count) in sorted(by_op.items(), key=lambda kv: -kv[1][1])[:14]:
        out.append(
            f"    {actor:<14} {op:<22} {count:7.0f}  {count / seconds:7.1f}/s"
            f"  mean {total / count * 1000:6.1f} ms"
        )
    return out


async def fill(st: Stack, n_docs: int) -> str:
    master = f"{st.prefix}fs_master"
    n_accounts = n_docs // 3
    docs: list[dict[str, Any]] = []
    for i in range(n_accounts):
        docs.append(sample("account", **{"_id": f"account:f{i:06d}"}, territory_id="territory:big"))
        docs.append(
            sample("contact", **{"_id": f"contact:f{i:06d}-1"}, account_id=f"account:f{i:06d}")
        )
        docs.append(
            sample("contact", **{"_id": f"contact:f{i:06d}-2"}, account_id=f"account:f{i:06d}")
        )
    source = f"{st.prefix}fill_source"
    await st.couch.create_db(source)
    for start in range(0, len(docs), 1000):
        await st.couch.bulk_docs(master, docs[start : start + 1000])
        await st.couch.bulk_docs(source, docs[start : start + 1000])
    # CouchDB's own replication of the same documents into an empty database
    target = f"{st.prefix}fill_target"
    t0 = time.perf_counter()
    await st.couch.request(
        "POST",
        "/_replicate",
        json={
            "source": f"{st.couch_url}/{source}",
            "target": f"{st.couch_url}/{target}",
            "create_target": True,
        },
    )
    couch_s = time.perf_counter() - t0
    count = (await st.couch.db_info(target))["doc_count"]
    # the router filling a new rep's database when the territory is given to them
    await st.user("filler")
    rep_db = f"{st.prefix}rep_filler"
    t0 = time.perf_counter()
    await st.couch.put(
        master, sample("territory", **{"_id": "territory:big"}, rep_ids=["filler"], name="Big")
    )

    async def filled() -> bool:
        return int((await st.couch.db_info(rep_db))["doc_count"]) >= len(docs) + 1

    await until(filled, 1800, "the router to fill the rep database")
    router_s = time.perf_counter() - t0
    return (
        f"fill a new rep db with {len(docs)} docs:  _replicate {couch_s:6.1f}s ({count} docs)"
        f"  router {router_s:6.1f}s  ratio {router_s / couch_s:5.2f}"
    )


async def main(args: argparse.Namespace) -> None:
    async with stack(workers=True, **FAST) as st:
        print(f"# router ({st.couch_url})")
        for n in args.users:
            print(await latency(st, n, f"u{n}x"))
        if args.fill:
            print(await fill(st, args.fill))


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--fill", type=int, default=20_000)
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
