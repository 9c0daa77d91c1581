"""Wiring only: builds ``notifications``' :class:`~notifications.notifier.Notifier` from its
configs and the runtime, and the callbacks that connect the router and the resolver to it.
The notification domain (event mapping, live filtering, the notifier, the outbox listing)
lives in ``notifications/``.

``start(...)`` builds and starts the notifier (the workers are built after it, with the
callbacks below bound to it). Sender: FCM through firebase-admin with the FCM config's
credentials, else the log sender, which start-up reports as "push disabled".

Callbacks, and how their callers wait on them:

    router_events(notifier)  the router's ``on_event``. It awaits ``order_changed`` before it
                             copies the order into the rep db, and waits for the assignment
                             events of a page before its checkpoint passes them, so a crash
                             re-copies and re-notifies (the outbox dedupes) rather than losing
                             one.
    db_written(...)          the router's ``on_db_written`` (not awaited): wakes live feeds
                             and queues a debounced "sync now" in the background; the outbox
                             makes it durable once written, and the next change sends another.
    resolver_events(notifier)  the resolver's ``on_resolved``, awaited before it writes the
                             merge; a second call for the same record is one outbox entry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from notifications import listing
from notifications.mapping import overridden_events
from notifications.notifier import Notifier, NotifierConfig, new_holder
from notifications.sender import FcmConfig, sender_for
from sync_gateway.databases import Databases
from sync_gateway.gateway import LiveFeeds
from sync_gateway.runtime import Runtime
from sync_gateway.work import acting_as

Stop = Callable[[], Awaitable[None]]
LISTING_VIEW = "notifications-listing"  # Services.views_ready: the outbox listing's view
BETWEEN_POLLS_S = 5.0  # a feed that ended this recently is most likely being asked again


async def start(
    rt: Runtime, config: NotifierConfig, fcm: FcmConfig, live: LiveFeeds | None
) -> Notifier:
    """Build and start the notification services (``live``: the gateway's change hub when
    this process serves devices, so "sync now" is skipped for a user whose feed is open)."""
    holder = new_holder()
    # one firebase app per notifier: two services in one process must not share one
    sender = sender_for(fcm, app_name=f"fieldsync-{holder}")

    def feed_open(db: str) -> bool:
        return live is not None and live.has_subscribers(db)

    notifier = Notifier(rt.couch, rt.dbs, sender, config, feed_open=feed_open, holder=holder)
    try:
        with acting_as("notifications"):  # its feeds and jobs are tasks started here
            await notifier.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await notifier.stop()
        raise
    return notifier


def router_events(notifier: Notifier) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """The router's ``on_event``: the notifier turns events into outbox entries."""
    return notifier.on_router_event


def db_written(notifier: Notifier, dbs: Databases, live: LiveFeeds | None) -> Callable[[str], None]:
    """The router's ``on_db_written``: wake live feeds, and send a debounced data-only "sync
    now" push when the user has no live feed open (e.g. a price list changed overnight)."""
    background: set[asyncio.Task[Any]] = set()
    rechecks: set[str] = set()  # users whose feed had just ended: looked at again shortly

    def hint(user_id: str) -> None:
        rechecks.discard(user_id)
        event = notifier.sync_now_hint(user_id)
        if event is not None:
            task = asyncio.create_task(notifier.enqueue([event]))
            background.add(task)
            task.add_done_callback(background.discard)

    def written(db: str) -> None:
        if live is not None:
            live.notify(db)
        user_id = dbs.user_of(db)
        if user_id is None:
            return
        if live is not None and live.left_within(db, BETWEEN_POLLS_S):
            # a phone between two longpolls is connected: it reads the change on its next
            # one. Asked again later, so a phone that really went away still gets its push.
            if user_id not in rechecks:
                rechecks.add(user_id)
                asyncio.get_running_loop().call_later(BETWEEN_POLLS_S, hint, user_id)
            return
        hint(user_id)

    return written


def resolver_events(notifier: Notifier) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The resolver's ``on_resolved``: a push to every user whose change was overridden (the
    resolver already wrote the notification document next to the conflict record)."""

    async def on_resolved(record: dict[str, Any]) -> None:
        events = overridden_events(record)
        if events:
            await notifier.enqueue(events)

    return on_resolved


async def list_outbox(
    rt: Runtime, views_ready: set[str], *, user_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """``GET /api/v1/notifications``: the listing view is installed once per process."""
    if LISTING_VIEW not in views_ready:
        await listing.ensure_listing_view(rt.couch, rt.dbs.ops)
        views_ready.add(LISTING_VIEW)
    return await listing.list_outbox(
        rt.couch, rt.dbs.ops, user_id=user_id, status=status, limit=limit
    )
