"""Change-feed followers that feed the live hub: fs_orders → ``order``, the ops db's device
documents → ``sync`` (see :mod:`notifications.mapping` for the data).

A follower starts from the database's current end, read before the task starts, so nothing
written after start-up is missed while the feed connects; a broken feed reconnects from the
last sequence it saw after :data:`RECONNECT_S`. Design documents are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import structlog

from .live import LiveHub
from .mapping import device_sync_data, order_live_data
from .store import DocStore

log = structlog.get_logger(__name__)

RECONNECT_S = 1.0


class FeedStore(DocStore, Protocol):
    """A :class:`DocStore` that also reads database info and continuous change feeds."""

    async def db_info(self, db: str) -> dict[str, Any]: ...

    def changes_stream(
        self, db: str, *, since: Any = "now", heartbeat_ms: int = 10_000, **params: Any
    ) -> AsyncIterator[dict[str, Any]]: ...


async def follow(
    store: FeedStore, db: str, handle: Callable[[dict[str, Any]], object]
) -> asyncio.Task[None]:
    """Follow ``db`` from its current end, calling ``handle`` per change row, until cancelled."""
    since: Any = (await store.db_info(db))["update_seq"]

    async def run() -> None:
        nonlocal since
        while True:
            try:
                async for row in store.changes_stream(db, since=since, include_docs=True):
                    since = row.get("seq", since)
                    if not str(row.get("id", "")).startswith("_design/"):
                        handle(row)
            except Exception as exc:  # the store away (or an odd row): reconnect, keep going
                log.info("live_feed_broke", db=db, error=str(exc))
                await asyncio.sleep(RECONNECT_S)

    return asyncio.create_task(run(), name=f"live-{db}")


async def follow_orders(store: FeedStore, orders_db: str, live: LiveHub) -> asyncio.Task[None]:
    return await follow(store, orders_db, lambda row: live.publish("order", order_live_data(row)))


async def follow_devices(store: FeedStore, ops_db: str, live: LiveHub) -> asyncio.Task[None]:
    def handle(row: dict[str, Any]) -> None:
        data = device_sync_data(row)
        if data is not None:
            live.publish("sync", data)

    return await follow(store, ops_db, handle)
