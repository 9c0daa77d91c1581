"""The snapshot builder looks at a database only with a reason (issue 19: idle cost flat).

Against the real store: the builder's requests are counted in the service's own metric
(``fieldsync_couch_request_seconds`` by actor), not by a double of the client.
"""

from __future__ import annotations

import asyncio
import contextlib

from polling import wait_until
from prometheus_client import REGISTRY

from mobile_schema import sample
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases
from sync_gateway.snapshots.builder import SnapshotBuilder
from sync_gateway.snapshots.policy import Policy
from sync_gateway.work import acting_as

ACTOR = "snapshot-builder-test"


def looks() -> float:
    """Database info reads the builder sent: one per look at a user, one more per build (the
    dump records the sequence it read up to)."""
    labels = {"actor": ACTOR, "op": "db", "db": "rep"}
    return REGISTRY.get_sample_value("fieldsync_couch_request_seconds_count", labels) or 0.0


async def products(couch: CouchClient, db: str, start: int, n: int) -> None:
    docs = [sample("product", _id=f"product:p{i}", sku=f"SKU-{i}") for i in range(start, start + n)]
    await couch.bulk_docs(db, docs)


async def test_looks_only_at_written_databases_it_owns(couch: CouchClient, dbs: Databases) -> None:
    await ensure_databases(couch, dbs)
    for user in ("u1", "u2", "u3"):
        await couch.create_db(dbs.rep(user))
        await products(couch, dbs.rep(user), 0, 5)
    builder = SnapshotBuilder(
        couch,
        dbs,
        Policy(min_docs=1, rebuild_changes=3, max_age_s=3600),
        check_s=0.05,
        owns=lambda user: user != "u3",  # u3's bucket is another worker's
    )
    start = looks()
    with acting_as(ACTOR):
        task = asyncio.create_task(builder.run())
    try:
        # the start: every owned user once
        await wait_until(lambda: builder.builds == 2, timeout=30, message="u1 and u2 built")
        assert looks() - start == 2 * 2
        assert await builder.store.current("u3") is None

        # idle: rounds go by without a request, however many users there are
        rounds, idle = builder.rounds, looks()
        await wait_until(lambda: builder.rounds >= rounds + 5, timeout=10, message="5 rounds")
        assert looks() == idle

        # written: that user is looked at (and rebuilt), no one else; a user it does not own
        # is not looked at even when reported
        await products(couch, dbs.rep("u2"), 100, 5)
        builder.changed("u2")
        builder.changed("u3")
        await wait_until(lambda: builder.builds == 3, timeout=30, message="u2 rebuilt")
        snap = await builder.store.current("u2")
        assert snap is not None and snap.leaves == 10
        assert looks() == idle + 2
    finally:
        await builder.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
