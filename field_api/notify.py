"""Wiring only: builds ``notifications``' :class:`~notifications.notifier.Notifier` from the
settings and the runtime, and the callbacks that connect the router and the resolver to it.
The notification domain (event mapping, live filtering, the notifier, the outbox listing)
lives in ``notifications/``.

``start(rt, shutdown_hooks)`` (a start-up hook that runs before the workers when
``settings.run_workers``) puts into ``rt.extras`` ``"notifier"``, ``"outbox"`` and ``"live"``
(for ``GET /api/v1/events``) and appends the notifier's stop to ``shutdown_hooks``. Sender: FCM
through firebase-admin with ``settings.google_application_credentials``, else the log sender,
which start-up reports as "push disabled".

Callbacks, and how their callers wait on them:

    router_events(rt)    the router's ``on_event``. It awaits ``order_changed`` before it copies
                         the order into the rep db, and waits for the assignment events of a
                         page before its checkpoint passes them, so a crash re-copies and
                         re-notifies (the outbox dedupes) rather than losing one.
    db_written(rt)       the router's ``on_db_written`` (not awaited): wakes live feeds and
                         queues a debounced "sync now" in the background; the outbox makes it
                         durable once written, and the next change sends another.
    resolver_events(rt)  the resolver's ``on_resolved``, awaited before it writes the merge;
                         a second call for the same record is one outbox entry (dedupe key).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from notifications import listing
from notifications.mapping import overridden_events
from notifications.notifier import Notifier, NotifierConfig, live_feed_open, new_holder
from notifications.sender import make_sender
from sync_gateway.runtime import Runtime
from sync_gateway.work import acting_as

Stop = Callable[[], Awaitable[None]]


def build(rt: Runtime) -> Notifier:
    """The notifier for the runtime's settings (the sender says whether push is enabled)."""
    s = rt.settings
    credentials = s.google_application_credentials
    holder = new_holder()
    sender = make_sender(
        str(credentials) if credentials else None,
        project_id=s.fcm_project_id,
        endpoint=s.fcm_endpoint,
        # one firebase app per notifier: two services in one process must not share one
        app_name=f"fieldsync-{holder}",
        environ={},  # the settings already read GOOGLE_APPLICATION_CREDENTIALS
    )
    config = NotifierConfig(
        run_scheduler=s.run_scheduler,
        dispatch_interval_s=s.notify_dispatch_s,
        lease_ttl_s=s.scheduler_lease_ttl_s,
    )

    def feed_open(db: str) -> bool:
        hub = rt.extras.get("hub")  # started by the gateway's start-up hook, if at all
        return hub is not None and live_feed_open(hub, db)

    return Notifier(rt.couch, rt.dbs, sender, config, feed_open=feed_open, holder=holder)


async def start(rt: Runtime, shutdown_hooks: list[Stop]) -> None:
    """Build and start the notification services; their stop joins ``shutdown_hooks``."""
    notifier = build(rt)
    rt.extras["notifier"] = notifier
    rt.extras["outbox"] = notifier.outbox
    rt.extras["live"] = notifier.live
    try:
        with acting_as("notifications"):  # its feeds and jobs are tasks started here
            await notifier.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await notifier.stop()
        raise
    shutdown_hooks.append(notifier.stop)


def _notifier(rt: Runtime) -> Notifier | None:
    notifier = rt.extras.get("notifier")
    return notifier if isinstance(notifier, Notifier) else None


def router_events(rt: Runtime) -> Callable[[str, dict[str, Any]], Awaitable[None] | None]:
    """The router's ``on_event``: hands events to the notifier once it exists."""

    def on_event(kind: str, payload: dict[str, Any]) -> Awaitable[None] | None:
        notifier = _notifier(rt)
        return None if notifier is None else notifier.on_router_event(kind, payload)

    return on_event


def db_written(rt: Runtime) -> Callable[[str], None]:
    """The router's ``on_db_written``: wake live feeds, and send a debounced data-only "sync
    now" push when the user has no live feed open (e.g. a price list changed overnight)."""
    background: set[asyncio.Task[Any]] = set()

    def written(db: str) -> None:
        hub: Any = rt.extras.get("hub")
        if hub is not None:
            hub.notify(db)
        notifier = _notifier(rt)
        user_id = rt.dbs.user_of(db)
        if notifier is None or user_id is None:
            return
        event = notifier.sync_now_hint(user_id)
        if event is not None:
            task = asyncio.create_task(notifier.enqueue([event]))
            background.add(task)
            task.add_done_callback(background.discard)

    return written


def resolver_events(rt: Runtime) -> Callable[[dict[str, Any]], Awaitable[None] | None]:
    """The resolver's ``on_resolved``: a push to every user whose change was overridden (the
    resolver already wrote the notification document next to the conflict record)."""

    def on_resolved(record: dict[str, Any]) -> Awaitable[None] | None:
        notifier = _notifier(rt)
        if notifier is None:
            return None
        events = overridden_events(record)

        async def send() -> None:
            if events:
                await notifier.enqueue(events)

        return send()

    return on_resolved


async def list_outbox(
    rt: Runtime, *, user_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """``GET /api/v1/notifications``: the listing view installed once per runtime."""
    if not rt.extras.get("notify_listing_view"):
        await listing.ensure_listing_view(rt.couch, rt.dbs.ops)
        rt.extras["notify_listing_view"] = True
    return await listing.list_outbox(
        rt.couch, rt.dbs.ops, user_id=user_id, status=status, limit=limit
    )
