"""Background workers in one process: the notifier, and the router, resolver, snapshot builder
and order webhook that feed it or run beside it.

With ``FIELDSYNC_RUN_WORKERS=false`` the service only serves HTTP, and the workers run elsewhere
with ``fieldsync worker``. :func:`start_workers` starts the notifier first and builds every
worker with its callbacks bound to it, so no router or resolver exists that notifies no one.
In the service process the router wakes live feeds through the gateway's change hub
(``live``) after each copy, and the gateway tells the router of a device's push
(``Gateway.router``, set by the app factory); in a process of its own the router learns of
writes from CouchDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from conflict.resolver import Resolver
from notifications.notifier import Notifier
from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.couch import CouchClient
from sync_gateway.gateway import LiveFeeds
from sync_gateway.router.leases import LeasedOwnership
from sync_gateway.router.worker import Router
from sync_gateway.runtime import Runtime
from sync_gateway.snapshots.builder import SnapshotBuilder
from sync_gateway.snapshots.policy import Policy
from sync_gateway.work import ACTOR

from . import notify
from .settings import Settings
from .webhooks import WebhookWorker

log = structlog.get_logger(__name__)

Stop = Callable[[], Awaitable[None]]


@dataclass
class Workers:
    """The workers running in this process (see the module docstring)."""

    notifier: Notifier
    router: Router
    resolver: Resolver
    snapshots: SnapshotBuilder
    webhooks: WebhookWorker | None
    _stops: list[Stop] = field(default_factory=list, repr=False)

    async def stop(self) -> None:
        """Stop the workers in the reverse order of their start, the notifier last."""
        for stop in reversed(self._stops):
            await stop()
        self._stops = []


async def start_notifier(
    settings: Settings, rt: Runtime, live: LiveFeeds | None, *, scheduler: bool = True
) -> Notifier:
    """The notifier for the settings; ``scheduler=False`` for one-shot commands, which only
    write outbox entries (the process holding the lease sends them)."""
    config = settings.notifier()
    if not scheduler:
        config = dataclasses.replace(config, run_scheduler=False)
    return await notify.start(rt, config, settings.fcm(), live)


def build_router(
    settings: Settings,
    rt: Runtime,
    notifier: Notifier,
    live: LiveFeeds | None = None,
    *,
    leased: bool = True,
) -> Router:
    """The router, handing its events to ``notifier``; ``leased``: it shares the users with the
    other workers (``leases.py``), otherwise it owns everything (``worker --once``)."""
    c = rt.config
    ownership: LeasedOwnership | None = None
    if leased:
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # a client of its own: renewals must never queue behind a burst's copies in the pool
        lease_couch = CouchClient(rt.couch_url, timeout=c.couch_timeout_s, max_connections=8)
        ownership = LeasedOwnership(lease_couch, rt.dbs.ops, holder, ttl_s=c.router_lease_ttl_s)
    # the per-database feeds (PouchDB Server) hold a connection each: a pool without a limit
    feed_couch = CouchClient(rt.couch_url, timeout=c.couch_timeout_s, max_connections=0)
    router = Router(
        rt.couch,
        rt.dbs,
        on_event=notify.router_events(notifier),
        on_db_written=notify.db_written(notifier, rt.dbs, live),
        poll_interval_s=c.router_poll_s,
        sweep_per_s=c.router_sweep_per_s,
        ownership=ownership,
        feed_couch=feed_couch,
    )
    if ownership is not None:
        ownership.details = router.status
    return router


def build_resolver(rt: Runtime, store: CouchConflictStore, notifier: Notifier) -> Resolver:
    """The resolver of fs_orders and fs_field, pushing to the users it overrode."""
    # its longpoll must end well before the client's read timeout
    wait_s = max(1.0, min(20.0, rt.config.couch_timeout_s / 2))
    return Resolver(
        store,
        [rt.dbs.orders, rt.dbs.field],
        wait_s=wait_s,
        on_resolved=notify.resolver_events(notifier),
    )


async def start_workers(
    settings: Settings, rt: Runtime, conflicts: CouchConflictStore, live: LiveFeeds | None
) -> Workers:
    """Start the notifier, then every worker as a task."""
    notifier = await start_notifier(settings, rt, live)
    stops: list[Stop] = [notifier.stop]
    try:
        router = build_router(settings, rt, notifier, live)
        stops.append(_start_router(router))
        resolver = build_resolver(rt, conflicts, notifier)
        stops.append(_start_task("resolver", resolver.run, resolver.stop, stop_first=True))
        snapshots = _snapshot_builder(rt, router)
        stops.append(_start_task("snapshots", snapshots.run, snapshots.stop, stop_first=True))
        webhooks = _webhook_worker(settings, rt)
        if webhooks is not None:
            stops.append(_start_task("webhooks", webhooks.run, webhooks.stop))
    except BaseException:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                await stop()
        raise
    return Workers(notifier, router, resolver, snapshots, webhooks, stops)


def _start_router(router: Router) -> Stop:
    task = asyncio.create_task(_supervised("router", router.run), name="router")

    async def stop_router() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await router.stop()  # hands its leases back
        await router.feed_couch.aclose()
        if isinstance(router.ownership, LeasedOwnership):
            await router.ownership.couch.aclose()

    return stop_router


def _start_task(
    name: str,
    run: Callable[[], Awaitable[None]],
    stop: Stop,
    *,
    stop_first: bool = False,
) -> Stop:
    """Run ``run`` supervised; the returned stop cancels it and calls ``stop`` (before the
    cancel with ``stop_first``: workers that end their own loop cleanly)."""
    task = asyncio.create_task(_supervised(name, run), name=name)

    async def stop_task() -> None:
        if stop_first:
            await stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not stop_first:
            await stop()

    return stop_task


def _snapshot_builder(rt: Runtime, router: Router) -> SnapshotBuilder:
    """First-sync snapshots (sync_gateway/snapshots), kept fresh in the background: for the
    users this worker's router owns, looked at when the router's discovery sees them written."""
    c = rt.config
    builder = SnapshotBuilder(
        rt.couch,
        rt.dbs,
        Policy(c.snapshot_min_docs, c.snapshot_rebuild_changes, c.snapshot_max_age_s),
        check_s=c.snapshot_check_s,
        owns=router.ownership.owns,
    )
    router.write_listeners.append(builder.changed)
    return builder


def _webhook_worker(settings: Settings, rt: Runtime) -> WebhookWorker | None:
    """The outgoing order webhook (field_api.webhooks) when FIELDSYNC_WEBHOOK_URL is set."""
    config = settings.webhook()
    if config is None:
        return None
    # its longpoll on fs_orders must end well before the client's read timeout
    wait_s = max(1.0, min(20.0, rt.config.couch_timeout_s / 2))
    return WebhookWorker(rt.couch, rt.dbs, config, wait_s=wait_s)


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
