"""The notification services of one process: outbox, dispatcher, jobs under a lease, the live
hub and its feeds, and the turning of router events into outbox entries.

Built by the composition root (``field_api.notify``) from a :class:`FeedStore`, the database
names (:class:`NotifyDatabases`), a :class:`NotifierConfig`, a sender and a probe that says
whether a live feed waits on a database. ``start()`` follows fs_orders and the ops db for live
events and, with ``run_scheduler``, starts the jobs (dispatch every ``dispatch_interval_s``,
reminders, morning plans, stale devices, housekeeping) under a :class:`Lease` whose holder is
``<host>:<pid>:<random>`` (the suffix tells apart two services in one process); a new outbox
entry wakes the lease holder's dispatcher at once instead of waiting for the interval.

Router events (:meth:`Notifier.on_router_event`; :mod:`notifications.mapping` says which become
which notification) each also send the user a data-only "sync now" (debounced per user and
window) when no live feed of theirs is open in this process. A change that only touches master
data does not wake sleeping phones beyond that hint; they get it at their next sync.

Delivery: the outbox entry is written before anything is sent (see ``outbox``); an enqueue that
fails is retried :data:`ENQUEUE_ATTEMPTS` times, then logged and dropped, never raised into the
router.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import structlog

from mobile_schema import doc_type_of, utc_now_datetime

from .dispatcher import Dispatcher
from .events import SYNC_NOW_WINDOW_S, Event, sync_now
from .followers import FeedStore, follow_devices, follow_orders
from .jobs import Jobs, JobScheduler
from .lease import Lease
from .live import LiveHub
from .mapping import assignment_events, order_event
from .outbox import Outbox
from .sender import FcmSender, LogSender
from .tokens import CouchTokenSource

log = structlog.get_logger(__name__)

ENQUEUE_ATTEMPTS = 3
DISPATCH_GAP_S = 1.0  # least time between two dispatch rounds started by new entries


class NotifyDatabases(Protocol):
    """The database names used (``sync_gateway.databases.Databases`` is one)."""

    @property
    def ops(self) -> str: ...
    @property
    def orders(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def master(self) -> str: ...
    def rep(self, user_id: str) -> str: ...


@dataclass(frozen=True)
class NotifierConfig:
    run_scheduler: bool = True
    dispatch_interval_s: float = 5.0
    lease_ttl_s: float = 60.0


def new_holder() -> str:
    """A lease holder id: ``<host>:<pid>:<random>``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def live_feed_open(hub: object, db: str) -> bool:
    """Whether a live feed in this process waits on ``db`` (a ``ChangeHub``)."""
    has = getattr(hub, "has_subscribers", None)
    if callable(has):
        return bool(has(db))
    # ChangeHub has no public per-database answer yet (asked for ``has_subscribers``).
    watch = getattr(hub, "_watches", {}).get(db)
    return bool(watch is not None and getattr(watch, "subscribers", 0) > 0)


class Notifier:
    """The notification services of one process; see the module docstring."""

    def __init__(
        self,
        store: FeedStore,
        dbs: NotifyDatabases,
        sender: FcmSender | LogSender,
        config: NotifierConfig | None = None,
        *,
        feed_open: Callable[[str], bool] = lambda db: False,
        holder: str | None = None,
    ) -> None:
        c = config or NotifierConfig()
        self.store = store
        self.dbs = dbs
        self.sender = sender
        self.feed_open = feed_open
        self.holder = holder or new_holder()
        self.outbox = Outbox(store, dbs.ops, dbs.rep)
        self.tokens = CouchTokenSource(store, dbs.ops)
        self.dispatcher = Dispatcher(self.outbox, sender, self.tokens, worker_id=self.holder)
        self.live = LiveHub()
        self.jobs = Jobs(
            store,
            ops_db=dbs.ops,
            field_db=dbs.field,
            outbox=self.outbox,
            dispatcher=self.dispatcher,
            live=self.live,
        )
        self.lease = Lease(store, dbs.ops, self.holder, ttl=timedelta(seconds=c.lease_ttl_s))
        self.scheduler: JobScheduler | None = None
        if c.run_scheduler:
            self.scheduler = JobScheduler(
                self.jobs, self.lease, intervals={"dispatch": c.dispatch_interval_s}
            )
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_now_sent: dict[str, int] = {}  # user -> window of the last hint enqueued
        self._stopped = False

    async def start(self) -> None:
        await self.jobs.setup()
        self._tasks = [
            await follow_orders(self.store, self.dbs.orders, self.live),
            await follow_devices(self.store, self.dbs.ops, self.live),
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
                with contextlib.suppress(Exception):  # the store away: the lease expires
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
        ids = await self.outbox.enqueue(events, utc_now_datetime())
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
                await self.jobs.dispatch(utc_now_datetime())
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
                except Exception as exc:
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
            event = order_event(user_id, payload.get("doc") or {}, utc_now_datetime())
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
        hint = self.sync_now_hint(user_id)
        if hint is not None:
            events.append(hint)
        return events

    def sync_now_hint(self, user_id: str) -> Event | None:
        """A data-only "sync now" for the user, or None when a live feed of theirs is open here
        or one was already queued in this window."""
        if self.feed_open(self.dbs.rep(user_id)):
            return None
        now = utc_now_datetime()
        window = int(now.timestamp()) // SYNC_NOW_WINDOW_S
        if self._sync_now_sent.get(user_id) == window:
            return None  # already queued in this window; the outbox would dedupe it anyway
        self._sync_now_sent[user_id] = window
        return sync_now(user_id, now)

    async def _rows(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        by_db: dict[str, list[str]] = {}
        for doc_id in doc_ids:
            home = self.dbs.master if doc_type_of(doc_id) == "territory" else self.dbs.field
            by_db.setdefault(home, []).append(doc_id)
        rows: list[dict[str, Any]] = []
        for db, ids in by_db.items():
            answer = await self.store.all_docs(db, keys=ids, include_docs=True)
            rows.extend(answer.get("rows", []))
        return rows

    async def _account_names(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        ids = sorted(
            {str(r["doc"]["account_id"]) for r in rows if (r.get("doc") or {}).get("account_id")}
        )
        if not ids:
            return {}
        answer = await self.store.all_docs(self.dbs.master, keys=ids, include_docs=True)
        return {
            row["id"]: str(row["doc"]["name"])
            for row in answer.get("rows", [])
            if (row.get("doc") or {}).get("name")
        }
