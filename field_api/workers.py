"""Background workers in the service process: the router (and the others as they are added).

With ``FIELDSYNC_RUN_WORKERS=false`` the process only serves HTTP, and the workers run elsewhere
with ``fieldsync worker``. Workers talk to the gateway only through the runtime: the router
wakes live feeds through the change hub after each copy, and the gateway wakes the router after
a device push.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

import structlog

from conflict.resolver import Resolver
from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.couch import CouchClient
from sync_gateway.router.leases import LeasedOwnership
from sync_gateway.router.worker import Router
from sync_gateway.runtime import Runtime
from sync_gateway.work import ACTOR

from . import notify

log = structlog.get_logger(__name__)

Stop = Callable[[], Awaitable[None]]


def build_router(rt: Runtime, *, leased: bool = True) -> Router:
    """The router; ``leased``: it shares the users with the other workers (``leases.py``),
    otherwise it owns everything (``worker --once``)."""
    s = rt.settings
    ownership: LeasedOwnership | None = None
    if leased:
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # a client of its own: renewals must never queue behind a burst's copies in the pool
        lease_couch = CouchClient(rt.couch_url, timeout=s.couch_timeout_s, max_connections=8)
        ownership = LeasedOwnership(lease_couch, rt.dbs.ops, holder, ttl_s=s.router_lease_ttl_s)
    # the per-database feeds (PouchDB Server) hold a connection each: a pool without a limit
    feed_couch = CouchClient(rt.couch_url, timeout=s.couch_timeout_s, max_connections=0)
    router = Router(
        rt.couch,
        rt.dbs,
        on_event=notify.router_events(rt),
        on_db_written=notify.db_written(rt),
        poll_interval_s=s.router_poll_s,
        sweep_per_s=s.router_sweep_per_s,
        ownership=ownership,
        feed_couch=feed_couch,
    )
    if ownership is not None:
        ownership.details = router.status
    rt.extras["router"] = router
    return router


def build_resolver(rt: Runtime) -> Resolver:
    store = CouchConflictStore(rt.couch, rt.dbs)
    rt.extras.setdefault("conflict_store", store)
    # its longpoll must end well before the client's read timeout
    wait_s = max(1.0, min(20.0, rt.settings.couch_timeout_s / 2))
    resolver = Resolver(
        store,
        [rt.dbs.orders, rt.dbs.field],
        wait_s=wait_s,
        on_resolved=notify.resolver_events(rt),
    )
    rt.extras["resolver"] = resolver
    return resolver


async def start_workers(rt: Runtime) -> list[Stop]:
    """Start every worker as a task; return the functions that stop them."""
    router = build_router(rt)
    task = asyncio.create_task(_supervised("router", router.run), name="router")

    async def stop_router() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await router.stop()  # hands its leases back
        await router.feed_couch.aclose()
        if isinstance(router.ownership, LeasedOwnership):
            await router.ownership.couch.aclose()

    resolver = build_resolver(rt)
    resolver_task = asyncio.create_task(_supervised("resolver", resolver.run), name="resolver")

    async def stop_resolver() -> None:
        await resolver.stop()
        resolver_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await resolver_task

    snapshots = start_snapshot_builder(rt, router)
    return [stop_router, stop_resolver, *start_webhook_worker(rt), snapshots]


def start_snapshot_builder(rt: Runtime, router: Router) -> Stop:
    """First-sync snapshots (sync_gateway/snapshots), kept fresh in the background: for the
    users this worker's router owns, looked at when the router's discovery sees them written."""
    from sync_gateway.snapshots.builder import SnapshotBuilder
    from sync_gateway.snapshots.policy import Policy

    s = rt.settings
    builder = SnapshotBuilder(
        rt.couch,
        rt.dbs,
        Policy(s.snapshot_min_docs, s.snapshot_rebuild_changes, s.snapshot_max_age_s),
        check_s=s.snapshot_check_s,
        owns=router.ownership.owns,
    )
    router.write_listeners.append(builder.changed)
    rt.extras["snapshots"] = builder
    task = asyncio.create_task(_supervised("snapshots", builder.run), name="snapshots")

    async def stop_snapshots() -> None:
        await builder.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop_snapshots


def start_webhook_worker(rt: Runtime) -> list[Stop]:
    """The outgoing order webhook (field_api.webhooks) when FIELDSYNC_WEBHOOK_URL is set."""
    from .webhooks import WebhookWorker, config_from

    config = config_from(rt.settings)
    if config is None:
        return []
    # its longpoll on fs_orders must end well before the client's read timeout
    wait_s = max(1.0, min(20.0, rt.settings.couch_timeout_s / 2))
    worker = WebhookWorker(rt.couch, rt.dbs, config, wait_s=wait_s)
    rt.extras["webhooks"] = worker
    task = asyncio.create_task(_supervised("webhooks", worker.run), name="webhooks")

    async def stop_webhooks() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.stop()

    return [stop_webhooks]


async def _supervised(name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Keep a worker running: a crash is logged and the worker restarts after a pause."""
    ACTOR.set(name)  # this task's context: the worker's CouchDB requests count as its own
    delay = 1.0
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker_crashed", worker=name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
