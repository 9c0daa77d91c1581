"""Conflict resolution: pure merges per second, and resolutions per second against CouchDB.

1. Pure: ``resolution_plan`` (merge + derived revision ids + tombstones) of orders with
   ``--lines`` lines (50) and 3 live leaves: one edits a tenth of the lines, one another tenth
   and the note, one is the back office's confirmation with confirmed quantities.
2. End to end: ``--orders`` (1,000) conflicted orders (3 leaves each, written with
   ``new_edits: false``) in the embedded PouchDB Server (or ``COUCHDB_URL``); one
   :class:`conflict.resolver.Resolver` sweeps them: per order it reads the leaves, the
   ancestor, writes the conflict_record, a notification to the rep, and the merge in one
   ``_bulk_docs``. Checked afterwards: every order has exactly one live leaf.

    .venv/bin/python -m bench conflicts [--lines 50] [--orders 1000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from typing import Any

from conflict import Leaf, resolution_plan
from conflict.resolver import Resolver
from field_api.logging import configure
from mobile_schema import sample
from mobile_schema.money import order_total
from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.couch import CouchClient, chunked
from sync_gateway.databases import Databases, ensure_databases

from .common import couch_server

T0, T1, T2, T3 = (f"2024-05-01T0{h}:00:00.000Z" for h in (8, 9, 10, 11))


def _rev(gen: int, tag: str) -> str:
    return f"{gen}-{hashlib.md5(tag.encode()).hexdigest()}"


def _line(i: int, qty: int, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "line_id": f"l{i}",
        "sku": f"SKU-{i}",
        "qty": qty,
        "unit_price": "10.00",
        "discount_pct": 0,
        "confirmed_qty": None,
        "deleted": False,
        "updated_at": at,
        **extra,
    }


def conflicted_order(order_id: str, n_lines: int) -> list[dict[str, Any]]:
    """The base revision and three leaves of one order (``_revisions`` set), as written."""
    base_lines = [_line(i, 1, T0) for i in range(n_lines)]
    base = sample(
        "order",
        _id=f"order:{order_id}",
        rep_id="alice",
        status="submitted",
        submitted_at=T0,
        lines=base_lines,
        total=order_total(base_lines),
        updated_at=T0,
        updated_by="alice",
    )
    tenth = max(1, n_lines // 10)
    phone = [_line(i, 2, T1) if i < tenth else line for i, line in enumerate(base_lines)]
    pda = [_line(i, 3, T2) if tenth <= i < 2 * tenth else line for i, line in enumerate(base_lines)]
    office = [{**line, "confirmed_qty": line["qty"]} for line in base_lines]
    b = _rev(1, f"{order_id}/base")
    leaves = [
        (_rev(2, f"{order_id}/phone"), {**base, "lines": phone, "updated_at": T1}),
        (_rev(2, f"{order_id}/pda"), {**base, "lines": pda, "note": "pda", "updated_at": T2}),
        (
            _rev(2, f"{order_id}/office"),
            {
                **base,
                "lines": office,
                "status": "confirmed",
                "confirmed_at": T3,
                "updated_at": T3,
                "updated_by": "office",
            },
        ),
    ]
    docs = [{**base, "_rev": b, "_revisions": {"start": 1, "ids": [b[2:]]}}]
    for rev, body in leaves:
        body = {**body, "total": order_total(body["lines"])}
        docs.append({**body, "_rev": rev, "_revisions": {"start": 2, "ids": [rev[2:], b[2:]]}})
    return docs


def bench_pure(n_lines: int, seconds: float = 3.0) -> None:
    docs = conflicted_order("o-1", n_lines)
    ancestor, leaves = docs[0], [Leaf.from_doc(d) for d in docs[1:]]
    plan = resolution_plan(leaves, ancestor)
    assert plan.merged_rev is not None and len(plan.docs) == 3
    for label, anc in (("with ancestor", ancestor), ("without ancestor", None)):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(20):
                resolution_plan(leaves, anc)
            count += 20
        print(
            f"pure resolution_plan, {n_lines} lines x 3 leaves, {label:<17} "
            f"{count / elapsed:9.0f} merges/s  ({elapsed / count * 1e3:.3f} ms each)"
        )


async def bench_end_to_end(n_orders: int, n_lines: int, concurrency: int) -> None:
    async with couch_server() as url:
        couch = CouchClient(url)
        dbs = Databases(f"benchconf{int(time.time())}_")
        try:
            await ensure_databases(couch, dbs)
            await couch.create_db(dbs.rep("alice"))
            start = time.perf_counter()
            docs = [d for i in range(n_orders) for d in conflicted_order(f"o-{i}", n_lines)]
            for batch in chunked(docs, 400):
                await couch.bulk_docs(dbs.orders, batch, new_edits=False)
            print(f"wrote {n_orders} conflicted orders in {time.perf_counter() - start:.1f}s")
            store = CouchConflictStore(couch, dbs)
            resolver = Resolver(store, [dbs.orders], concurrency=concurrency)
            start = time.perf_counter()
            done = await resolver.sweep()
            elapsed = time.perf_counter() - start
            print(
                f"end to end: {len(done)} orders resolved in {elapsed:.1f}s = "
                f"{len(done) / elapsed:.1f} resolutions/s (concurrency {concurrency}, "
                f"{n_lines} lines, 3 leaves, record + notification + merge each)"
            )
            start = time.perf_counter()
            again = await resolver.sweep()
            print(
                f"second sweep (nothing to do): {len(again)} in {time.perf_counter() - start:.1f}s"
            )
            unresolved = 0
            for i in range(n_orders):
                rows = await couch.open_revs(dbs.orders, f"order:o-{i}", "all", history=False)
                live = [r for r in rows if "ok" in r and not r["ok"].get("_deleted")]
                unresolved += len(live) != 1
            print(f"check: {unresolved} order(s) with more than one live leaf")
        finally:
            for db in await couch.all_dbs():
                if db.startswith(dbs.prefix):
                    await couch.delete_db(db)
            await couch.aclose()


def cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench conflicts", description=__doc__)
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="per pure measurement")
    args = parser.parse_args(argv)
    configure("WARNING")
    bench_pure(args.lines, args.seconds)
    asyncio.run(bench_end_to_end(args.orders, args.lines, args.concurrency))
