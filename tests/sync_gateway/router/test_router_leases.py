"""Router leases (sync_gateway/router/leases.py) on a real server, with a clock moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
from sync_gateway.router.leases import BUCKETS, Change, LeasedOwnership, bucket_of


class Clock:
    def __init__(self) -> None:
        self.value = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


def worker(couch: CouchClient, dbs: Databases, name: str, clock: Clock) -> LeasedOwnership:
    return LeasedOwnership(couch, dbs.ops, name, ttl_s=30, now=clock)


async def holders(couch: CouchClient, dbs: Databases) -> dict[str, Any]:
    rows = (
        await couch.all_docs(
            dbs.ops, startkey="lease:router-", endkey="lease:router-\ufff0", include_docs=True
        )
    )["rows"]
    return {r["id"]: r["doc"]["holder"] for r in rows}


async def test_two_workers_split_the_buckets_and_one_takes_over_when_the_other_stops(
    couch: CouchClient, dbs: Databases
) -> None:
    await couch.create_db(dbs.ops)
    clock = Clock()
    a, b = worker(couch, dbs, "a", clock), worker(couch, dbs, "b", clock)
    changes: dict[str, list[Change]] = {"a": [], "b": []}

    def recorder(name: str) -> Any:
        async def record(change: Change) -> None:
            # a bucket is reported lost before its lease is released, so nobody has it yet
            if change.lost:
                owners = await holders(couch, dbs)
                for bucket in change.lost:
                    assert owners[f"lease:router-bucket:{bucket:02d}"] == name
            changes[name].append(change)

        return record

    a.listen(recorder("a"))
    b.listen(recorder("b"))
    await a.start()
    assert len(a.buckets_held) == BUCKETS and a.owns_shared
    await b.start()  # sees a alive: takes nothing yet (every bucket is held)
    assert b.buckets_held == [] and not b.owns_shared
    await a.round()  # a counts two workers: hands half back
    await b.round()
    assert len(a.buckets_held) == len(b.buckets_held) == BUCKETS // 2
    assert set(a.buckets_held).isdisjoint(b.buckets_held)
    assert any(c.lost == frozenset(b.buckets_held) for c in changes["a"])
    assert changes["b"][-1].gained == frozenset(b.buckets_held)
    for user in ("alice", "bob", "carol", "dave", "erin"):
        assert a.owns(user) != b.owns(user)
        assert (a if bucket_of(user) in a.buckets_held else b).owns(user)

    # a keeps renewing, b too: nothing moves, and a renewal is not reported as a gain
    clock.advance(10)
    await a.round()
    await b.round()
    assert len(a.buckets_held) == len(b.buckets_held) == BUCKETS // 2
    assert changes["a"][-1] == Change() and changes["b"][-1] == Change()

    # a stops renewing (killed): its leases run out, then b takes everything
    clock.advance(29)
    await b.round()
    assert len(b.buckets_held) == BUCKETS // 2  # not yet: a's leases still run
    clock.advance(2)
    assert not a.owns_shared and a.buckets_held == []  # by a's own clock, too
    await b.round()
    assert len(b.buckets_held) == BUCKETS and b.owns_shared
    owners = await holders(couch, dbs)
    assert {h for i, h in owners.items() if not i.startswith("lease:router-worker:")} == {"b"}


async def test_stop_hands_everything_back_at_once(couch: CouchClient, dbs: Databases) -> None:
    await couch.create_db(dbs.ops)
    clock = Clock()
    a, b = worker(couch, dbs, "a", clock), worker(couch, dbs, "b", clock)
    await a.start()
    await a.stop()
    await b.start()  # no waiting for expiry
    assert len(b.buckets_held) == BUCKETS and b.owns_shared
