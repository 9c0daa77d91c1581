"""Notifications in the service: builds the ``notifications`` package's parts from the settings
and the runtime, turns router events into pushes, and feeds the live hub.

Start-up (``start(app, rt)``, a start-up hook that runs before the workers when
``settings.run_workers``) puts into ``rt.extras``:

    "notifier"  the :class:`Notifier` (enqueue, kick, stop)
    "outbox"    :class:`notifications.outbox.Outbox` on ``fs_ops``
    "live"      :class:`notifications.live.LiveHub` for ``GET /api/v1/events``

Sender: FCM through firebase-admin with ``settings.google_application_credentials``
(``GOOGLE_APPLICATION_CREDENTIALS``), else the log sender, which start-up reports as
"push disabled". Jobs (dispatch every ``notify_dispatch_s``, reminders, morning plans, stale
devices, housekeeping) run under a :class:`Lease` whose holder is ``<host>:<pid>:<random>`` (the
suffix tells apart two services in one process); a new outbox entry wakes the lease holder's
dispatcher at once instead of waiting for the interval.

Router events (``on_router_event``, passed to the router by ``field_api.workers``):

    "order_changed"      {"user_id", "doc"}   status confirmed / rejected / shipped reached the
                                              rep -> ORDER_<STATUS> to the rep, once per status
                                              (revisions older than a day are history: none)
    "assignment_gained"  {"user_id", "doc_ids"}  visit / work order / territory -> *_ASSIGNED /
    "assignment_lost"                            TERRITORY_GAINED, *_UNASSIGNED / TERRITORY_LOST,
                                                 once per (document, revision)

Each of them also sends the user a data-only "sync now" (debounced per user and window) when no
live feed of theirs is open in this process: ``ChangeHub`` knows whether anyone waits on the
user's database. A change that only touches master data does not wake sleeping phones; they get
it at their next sync.

Live topics (published to the hub; who sees them is :func:`live_filter`):

    "order"        every fs_orders change (new and changed orders), from a feed of this process
    "assignment"   {"user_id", "change": gained | lost, "doc_ids"} from the router
    "sync"         device documents with new ``last_pull`` / ``last_push`` times
    "device_stale" from the stale-devices job (only in the lease holder's process)

Delivery: the router emits after its copy and does not wait for the callback, so a crash right
between the two can lose that one notification (the notification's document path is the same
write); an enqueue that fails is retried a few times before it is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import FastAPI

from mobile_schema import doc_type_of, format_timestamp
from notifications.dispatcher import Dispatcher
from notifications.events import SYNC_NOW_WINDOW_S, Event, EventKind, sync_now
from notifications.jobs import Jobs, JobScheduler
from notifications.lease import Lease
from notifications.live import LiveEvent, LiveHub
from notifications.outbox import Outbox
from notifications.sender import FcmSender, LogSender, make_sender
from notifications.store import HIGH, ensure_design, view
from notifications.tokens import CouchTokenSource
from sync_gateway.auth.authenticate import Principal
from sync_gateway.couch import CouchError
from sync_gateway.runtime import Runtime
from sync_gateway.work import acting_as

log = structlog.get_logger(__name__)

ORDER_KINDS = {
    "confirmed": EventKind.ORDER_CONFIRMED,
    "rejected": EventKind.ORDER_REJECTED,
    "shipped": EventKind.ORDER_SHIPPED,
}
GAINED = {
    "visit": EventKind.VISIT_ASSIGNED,
    "work_order": EventKind.WORK_ORDER_ASSIGNED,
    "territory": EventKind.TERRITORY_GAINED,
}
LOST = {
    "visit": EventKind.VISIT_UNASSIGNED,
    "work_order": EventKind.WORK_ORDER_UNASSIGNED,
    "territory": EventKind.TERRITORY_LOST,
}
# Gaining a finished visit or work order (history moved over) is nothing to act on.
FINISHED = frozenset({"done", "cancelled"})
# Who sees which live topic; None: everything.
LIVE_TOPICS: dict[str, frozenset[str] | None] = {
    "admin": None,
    "backoffice": frozenset({"order"}),
    "manager": frozenset({"assignment", "sync", "device_stale"}),
}
ENQUEUE_ATTEMPTS = 3
DISPATCH_GAP_S = 1.0  # least time between two dispatch rounds started by new entries
ORDER_MAX_AGE = timedelta(days=1)


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- pure: router events -> notification events ------------------------------------------------


def order_event(user_id: str, doc: dict[str, Any], now: datetime | None = None) -> Event | None:
    """The rep's notification for an order revision, or None when its status tells nothing or,
    given ``now``, the revision is older than :data:`ORDER_MAX_AGE` (a router catching up on
    a history, e.g. its first start on an existing deployment, must not replay old news)."""
    kind = ORDER_KINDS.get(str(doc.get("status")))
    if kind is None or doc.get("rep_id") != user_id:
        return None
    if now is not None and str(doc.get("updated_at") or "") < format_timestamp(now - ORDER_MAX_AGE):
        return None
    order_id = str(doc.get("_id", "?"))
    data = {
        "order_id": order_id,
        "account_id": str(doc.get("account_id", "")),
        "status": str(doc["status"]),
    }
    if doc.get("total") is not None:
        data["total"] = f"{doc['total']} {doc.get('currency', '')}".strip()
    if kind is EventKind.ORDER_REJECTED:
        data["reason"] = str(doc.get("rejection_reason") or "no reason given")
    return Event(kind, user_id, data=data, dedupe_key=f"{kind.value}:{order_id}")


def assignment_events(
    gained: bool,
    user_id: str,
    rows: Iterable[dict[str, Any]],
    account_names: dict[str, str] | None = None,
) -> list[Event]:
    """Notifications for ``_all_docs`` rows (``include_docs``) of documents gained / lost."""
    names = account_names or {}
    kinds = GAINED if gained else LOST
    events = []
    for row in rows:
        doc_id = str(row.get("id") or row.get("key") or "")
        kind = kinds.get(doc_type_of(doc_id) or "")
        if kind is None:
            continue
        doc: dict[str, Any] = row.get("doc") or {}
        rev = str((row.get("value") or {}).get("rev", ""))
        if gained and (not doc or doc.get("status") in FINISHED):
            continue
        account_id = str(doc.get("account_id", ""))
        data = {"doc_id": doc_id, "account_id": account_id}
        data["account"] = names.get(account_id) or account_id or doc_id
        if doc_type_of(doc_id) == "visit":
            data["visit_id"] = doc_id
            data["scheduled_start"] = str(doc.get("scheduled_start") or "no time set")
        elif doc_type_of(doc_id) == "work_order":
            data["work_order_id"] = doc_id
            data["problem"] = str(doc.get("problem") or doc_id)
            data["priority"] = str(doc.get("priority", ""))
        else:
            data["territory_id"] = doc_id
            data["territory_name"] = str(doc.get("name") or doc_id.split(":", 1)[-1])
        events.append(Event(kind, user_id, data=data, dedupe_key=f"{kind.value}:{doc_id}:{rev}"))
    return events


def order_live_data(row: dict[str, Any]) -> dict[str, Any]:
    """The ``order`` live event of one fs_orders change row (``include_docs``)."""
    doc = row.get("doc") or {}
    return {
        "order_id": row.get("id"),
        "rev": (row.get("changes") or [{}])[0].get("rev"),
        "deleted": bool(row.get("deleted")),
        **{
            k: doc.get(k)
            for k in ("status", "rep_id", "account_id", "total", "currency", "updated_at")
            if k in doc
        },
    }


def live_filter(principal: Principal) -> Callable[[LiveEvent], bool]:
    """What a web user sees on ``/api/v1/events``: back office orders, managers field
    activity (every field user: there are no per-manager teams yet), admins everything."""
    topics = LIVE_TOPICS.get(principal.role, frozenset())
    me = principal.user_id

    def accept(event: LiveEvent) -> bool:
        if event.user_ids is not None and me not in event.user_ids:
            return False
        return topics is None or event.topic in topics

    return accept


def live_feed_open(hub: Any, db: str) -> bool:
    """Whether a live feed in this process waits on ``db`` (see the module docstring)."""
    has = getattr(hub, "has_subscribers", None)
    if callable(has):
        return bool(has(db))
    # ChangeHub has no public per-database answer yet (asked for ``has_subscribers``).
    watch = getattr(hub, "_watches", {}).get(db)
    return bool(watch is not None and getattr(watch, "subscribers", 0) > 0)


# -- the running service ------------------------------------------------------------------------


class Notifier:
    """The notification services of one process; see the module docstring."""

    def __init__(
        self, rt: Runtime, sender: FcmSender | LogSender, *, holder: str | None = None
    ) -> None:
        s = rt.settings
        self.rt = rt
        self.sender = sender
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.outbox = Outbox(rt.couch, rt.dbs.ops, rt.dbs.rep)
        self.tokens = CouchTokenSource(rt.couch, rt.dbs.ops)
        self.dispatcher = Dispatcher(self.outbox, sender, self.tokens, worker_id=self.holder)
        self.live = LiveHub()
        self.jobs = Jobs(
            rt.couch,
            ops_db=rt.dbs.ops,
            field_db=rt.dbs.field,
            outbox=self.outbox,
            dispatcher=self.dispatcher,
            live=self.live,
        )
        self.lease = Lease(
            rt.couch,
            rt.dbs.ops,
            self.holder,
            ttl=timedelta(seconds=s.scheduler_lease_ttl_s),
        )
        self.scheduler: JobScheduler | None = None
        if s.run_scheduler:
            self.scheduler = JobScheduler(
                self.jobs, self.lease, intervals={"dispatch": s.notify_dispatch_s}
            )
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_now_sent: dict[str, int] = {}  # user -> window of the last hint enqueued
        self._stopped = False

    async def start(self) -> None:
        await self.jobs.setup()
        self._tasks = [
            await self._follow(self.rt.dbs.orders, self._on_order_row),
            await self._follow(self.rt.dbs.ops, self._on_ops_row),
        ]
        if self.scheduler is not None:
            self.scheduler.start()
            self._tasks.append(asyncio.create_task(self._dispatch_on_wake(), name="notify-kick"))
        log.info(
            "notifications_started",
            sender=self.sender.name,
            push="enabled" if self.sender.name == "fcm" else "disabled (log sender)",
            scheduler=self.scheduler is not None,
            holder=self.holder,
        )

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.scheduler is not None:
            if self.scheduler.scheduler.running:
                await self.scheduler.stop()  # releases the lease too
            else:
                with contextlib.suppress(CouchError):
                    await self.lease.release()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.sender.aclose()

    # -- outbox --------------------------------------------------------------------------

    async def enqueue(self, events: list[Event]) -> list[str]:
        """Write the events' outbox entries (and documents), then wake the dispatcher."""
        if not events:
            return []
        ids = await self.outbox.enqueue(events, now_utc())
        self.kick()
        return ids

    def kick(self) -> None:
        """Dispatch soon rather than at the next interval (only the lease holder sends)."""
        self._wake.set()

    async def _dispatch_on_wake(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.lease.held:
                continue
            try:
                await self.jobs.dispatch(now_utc())
            except Exception as exc:  # CouchDB away: the interval job retries
                log.warning("dispatch_on_wake_failed", error=repr(exc))
            # kicks coming faster than this (a burst of confirmations) are served together:
            # each round reads the outbox's view, which costs CouchDB for every entry written
            await asyncio.sleep(DISPATCH_GAP_S)

    # -- router events -------------------------------------------------------------------

    async def on_router_event(self, kind: str, payload: dict[str, Any]) -> None:
        """Turn one router event into notifications (errors are logged, never raised)."""
        try:
            events = await self._events_for(kind, payload)
            for attempt in range(ENQUEUE_ATTEMPTS):
                try:
                    await self.enqueue(events)
                    break
                except CouchError as exc:
                    if attempt + 1 == ENQUEUE_ATTEMPTS:
                        raise
                    log.info("notify_enqueue_retry", error=str(exc))
                    await asyncio.sleep(0.5 * 2**attempt)
        except Exception:
            log.exception("notify_router_event_failed", kind=kind, user_id=payload.get("user_id"))

    async def _events_for(self, kind: str, payload: dict[str, Any]) -> list[Event]:
        user_id = str(payload.get("user_id") or "")
        if not user_id:
            return []
        events: list[Event] = []
        if kind == "order_changed":
            event = order_event(user_id, payload.get("doc") or {}, now_utc())
            if event is not None:
                events.append(event)
        elif kind in ("assignment_gained", "assignment_lost"):
            doc_ids = [str(i) for i in payload.get("doc_ids") or []]
            gained = kind == "assignment_gained"
            rows = await self._rows(doc_ids)
            names = await self._account_names(rows)
            events.extend(assignment_events(gained, user_id, rows, names))
            self.live.publish(
                "assignment",
                {"user_id": user_id, "change": "gained" if gained else "lost", "doc_ids": doc_ids},
            )
        else:
            return []
        hint = self._sync_now(user_id)
        if hint is not None:
            events.append(hint)
        return events

    def _sync_now(self, user_id: str) -> Event | None:
        hub = self.rt.extras.get("hub")
        if hub is not None and live_feed_open(hub, self.rt.dbs.rep(user_id)):
            return None
        now = now_utc()
        window = int(now.timestamp()) // SYNC_NOW_WINDOW_S
        if self._sync_now_sent.get(user_id) == window:
            return None  # already queued in this window; the outbox would dedupe it anyway
        self._sync_now_sent[user_id] = window
        return sync_now(user_id, now)

    async def _rows(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        by_db: dict[str, list[str]] = {}
        for doc_id in doc_ids:
            home = self.rt.dbs.master if doc_type_of(doc_id) == "territory" else self.rt.dbs.field
            by_db.setdefault(home, []).append(doc_id)
        rows: list[dict[str, Any]] = []
        for db, ids in by_db.items():
            answer = await self.rt.couch.all_docs(db, keys=ids, include_docs=True)
            rows.extend(answer.get("rows", []))
        return rows

    async def _account_names(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        ids = sorted(
            {str(r["doc"]["account_id"]) for r in rows if (r.get("doc") or {}).get("account_id")}
        )
        if not ids:
            return {}
        answer = await self.rt.couch.all_docs(self.rt.dbs.master, keys=ids, include_docs=True)
        return {
            row["id"]: str(row["doc"]["name"])
            for row in answer.get("rows", [])
            if (row.get("doc") or {}).get("name")
        }

    # -- live feeds ----------------------------------------------------------------------

    async def _follow(
        self, db: str, handle: Callable[[dict[str, Any]], None]
    ) -> asyncio.Task[None]:
        """Follow ``db`` from its current end (read now, so nothing written after start-up is
        missed while the feed connects), calling ``handle`` per change row."""
        since: Any = (await self.rt.couch.db_info(db))["update_seq"]

        async def run() -> None:
            nonlocal since
            while True:
                try:
                    async for row in self.rt.couch.changes_stream(
                        db, since=since, include_docs=True
                    ):
                        since = row.get("seq", since)
                        if not str(row.get("id", "")).startswith("_design/"):
                            handle(row)
                except CouchError as exc:
                    log.info("live_feed_broke", db=db, error=str(exc))
                    await asyncio.sleep(1.0)

        return asyncio.create_task(run(), name=f"live-{db}")

    def _on_order_row(self, row: dict[str, Any]) -> None:
        self.live.publish("order", order_live_data(row))

    def _on_ops_row(self, row: dict[str, Any]) -> None:
        doc = row.get("doc") or {}
        if doc.get("type") != "device" or row.get("deleted"):
            return
        if not (doc.get("last_pull") or doc.get("last_push")):
            return
        self.live.publish(
            "sync",
            {k: doc.get(k) for k in ("user_id", "device_id", "platform", "last_pull", "last_push")},
        )


def build(rt: Runtime) -> Notifier:
    """The notifier for the runtime's settings (the sender says whether push is enabled)."""
    s = rt.settings
    credentials = s.google_application_credentials
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    sender = make_sender(
        str(credentials) if credentials else None,
        project_id=s.fcm_project_id,
        endpoint=s.fcm_endpoint,
        # one firebase app per notifier: two services in one process must not share one
        app_name=f"fieldsync-{holder}",
        environ={},  # the settings already read GOOGLE_APPLICATION_CREDENTIALS
    )
    return Notifier(rt, sender, holder=holder)


async def start(app: FastAPI, rt: Runtime) -> None:
    """Build and start the notification services; their stop joins the shutdown hooks."""
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
    app.state.shutdown_hooks.append(notifier.stop)


def router_events(rt: Runtime) -> Callable[[str, dict[str, Any]], Awaitable[None] | None]:
    """The router's ``on_event``: hands events to the notifier once it exists."""

    def on_event(kind: str, payload: dict[str, Any]) -> Awaitable[None] | None:
        notifier = rt.extras.get("notifier")
        if not isinstance(notifier, Notifier):
            return None
        return notifier.on_router_event(kind, payload)

    return on_event


def db_written(rt: Runtime) -> Callable[[str], None]:
    """The router's ``on_db_written``: wake live feeds, and send a debounced data-only "sync
    now" push when the user has no live feed open (e.g. a price list changed overnight)."""
    background: set[asyncio.Task[Any]] = set()

    def written(db: str) -> None:
        hub: Any = rt.extras.get("hub")
        if hub is not None:
            hub.notify(db)
        notifier = rt.extras.get("notifier")
        user_id = rt.dbs.user_of(db)
        if not isinstance(notifier, Notifier) or user_id is None:
            return
        event = notifier._sync_now(user_id)
        if event is not None:  # a hint: sent in the background, the outbox makes it durable
            task = asyncio.create_task(notifier.enqueue([event]))
            background.add(task)
            task.add_done_callback(background.discard)

    return written


def resolver_events(rt: Runtime) -> Callable[[dict[str, Any]], Awaitable[None] | None]:
    """The resolver's ``on_resolved``: a push to every user whose change was overridden.

    The resolver already wrote the notification document into their database (next to the
    conflict record), so the outbox sends the push only. It calls this before writing the
    merge, and again for the same record after a crash or from a second resolver: the dedupe
    key (the record id) makes that one outbox entry.
    """

    def on_resolved(record: dict[str, Any]) -> Awaitable[None] | None:
        notifier = rt.extras.get("notifier")
        if not isinstance(notifier, Notifier):
            return None
        overridden = record.get("overridden") or []
        first = overridden[0] if overridden else {}
        events = [
            Event(
                kind=EventKind.CONFLICT_OVERRIDDEN,
                user_id=user_id,
                data={
                    "doc_id": str(record.get("doc_id", "")),
                    "what": str(first.get("what", "a change")),
                    "by": str(first.get("by", "someone")),
                    "conflict_record": str(record.get("_id", "")),
                },
                dedupe_key=str(record.get("_id")),
                with_document=False,
            )
            for user_id in record.get("user_ids") or []
        ]

        async def send() -> None:
            if events:
                await notifier.enqueue(events)

        return send()

    return on_resolved


# -- support listing: GET /api/v1/notifications --------------------------------------------------

LISTING_DDOC = "_design/notify_api"
# Each entry is indexed four times, [user or "", state or "", updated_at], so that every
# combination of the two filters is one descending range read.
LISTING_VIEWS = {
    "listing": """function (doc) {
  if (doc.type !== 'outbox') return;
  var users = ['', doc.user_id], states = ['', doc.state];
  for (var u = 0; u < 2; u++) for (var s = 0; s < 2; s++)
    emit([users[u], states[s], doc.updated_at], null);
}"""
}
ENTRY_FIELDS = (
    "user_id",
    "kind",
    "state",
    "attempts",
    "last_error",
    "delivered",
    "sender",
    "notification_id",
    "dedupe_key",
    "created_at",
    "updated_at",
    "next_attempt_at",
    "sent_at",
)


def entry_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What support sees of an outbox entry: recipient, message, state, attempts, error."""
    message = doc.get("message") or {}
    out: dict[str, Any] = {"id": doc["_id"], **{k: doc.get(k) for k in ENTRY_FIELDS}}
    out.update(
        title=message.get("title"),
        body=message.get("body"),
        data_only=bool(message.get("data_only")),
        devices_done=len(doc.get("done_tokens") or []),
    )
    return out


async def list_outbox(
    rt: Runtime, *, user_id: str | None, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """Outbox entries, most recently changed first, filtered by recipient and state."""
    if not rt.extras.get("notify_listing_view"):
        await ensure_design(rt.couch, rt.dbs.ops, LISTING_DDOC, LISTING_VIEWS)
        rt.extras["notify_listing_view"] = True
    key = [user_id or "", status or ""]
    rows = await view(
        rt.couch,
        rt.dbs.ops,
        "notify_api",
        "listing",
        startkey=[*key, HIGH],
        endkey=key,
        descending=True,
        limit=limit,
        include_docs=True,
    )
    return [entry_view(row["doc"]) for row in rows if row.get("doc")]
