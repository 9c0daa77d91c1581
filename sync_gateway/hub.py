"""Wake-ups for live feeds, so idle devices cost no CouchDB connection each.

A device's longpoll or continuous feed does not hold a request open against CouchDB. It reads
what is new with a normal ``_changes`` request, then waits on the hub for its database to change
and reads again. Feeds woken together read together: ``shared`` runs one CouchDB request for
all callers asking the same page at the same moment. The hub learns of changes three ways:

- ``notify(db)`` from writers in this process (the gateway after a push, the router after a copy);
- CouchDB 3's ``_db_updates`` feed: one connection for the whole server (when it is offered);
- otherwise (PouchDB Server has no ``_db_updates``) one continuous feed per watched database,
  however many devices of that user are waiting, kept a little after the last one leaves so
  reconnecting longpolls do not churn it.

``Subscription.wait(timeout)`` returns True when the database changed since the subscription
began or since the last wake-up it reported, False on timeout. A spurious wake-up is harmless:
the feed re-reads and finds nothing.

A caller that read the database before subscribing passes the :meth:`ChangeHub.mark` taken
before that read: the subscription then counts from it, so a change made after the read began
wakes it at once and the caller need not read again (``Subscription.from_mark``). A mark is
only taken while the database is already watched; without one the caller reads once after
subscribing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from .couch import CouchClient, CouchError

log = structlog.get_logger(__name__)

T = TypeVar("T")
WATCH_LINGER_S = 30.0
WATCH_HEARTBEAT_MS = 20_000


@dataclass
class _Watch:
    generation: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: int = 0
    left_at: float = 0.0  # loop time the last subscriber left
    task: asyncio.Task[None] | None = None
    linger: asyncio.TimerHandle | None = None


Mark = tuple[_Watch, int]  # a watch and its generation at a moment (ChangeHub.mark)


class Subscription:
    def __init__(self, watch: _Watch, mark: Mark | None = None) -> None:
        self._watch = watch
        # counted from the mark when it is of this watch: every wake-up since was a change
        self.from_mark = mark is not None and mark[0] is watch
        seen = mark[1] if mark is not None and self.from_mark else watch.generation
        # what the last wait() reported; True here: changed since the mark, read now
        self.changed = seen != watch.generation
        self._seen = watch.generation

    async def wait(self, timeout_s: float) -> bool:
        watch = self._watch
        if watch.generation == self._seen:
            event = watch.event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s)
        self.changed = watch.generation != self._seen
        self._seen = watch.generation
        return self.changed


class ChangeHub:
    def __init__(self, feed_couch: CouchClient) -> None:
        """``feed_couch`` is a client of its own with a pool large enough for the watches."""
        self.couch = feed_couch
        self._watches: dict[str, _Watch] = {}
        self._db_updates: asyncio.Task[None] | None = None
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}
        self.server_wide = False

    async def start(self) -> None:
        """Use ``_db_updates`` when the server offers it; otherwise watch per database."""
        try:
            await self.couch.request(
                "GET", "/_db_updates", params={"feed": "normal", "timeout": 1, "limit": 1}
            )
            self.server_wide = True
        except CouchError:
            self.server_wide = False
        if self.server_wide:
            self._db_updates = asyncio.create_task(self._follow_db_updates(), name="db-updates")
        log.info("change_hub_started", mode="_db_updates" if self.server_wide else "per-database")

    async def stop(self) -> None:
        tasks = [w.task for w in self._watches.values() if w.task] + (
            [self._db_updates] if self._db_updates else []
        )
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watches.clear()

    def notify(self, db: str) -> None:
        watch = self._watches.get(db)
        if watch is None:
            return
        watch.generation += 1
        event, watch.event = watch.event, asyncio.Event()
        event.set()

    async def shared(self, db: str, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """Run ``read`` once for everyone asking the same ``key`` of ``db`` at the same time.

        A change to a database with many devices waiting wakes them all at once, and they all
        ask for the same page from the same sequence: one request to CouchDB serves them. A
        read begun before the latest wake-up of ``db`` is not joined: it may predate the change.
        """
        watch = self._watches.get(db)
        key = (db, watch.generation if watch is not None else -1, key)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        result: T = await asyncio.shield(task)
        return result

    def has_subscribers(self, db: str) -> bool:
        """Whether a live feed of ``db`` is open in this process (a device is listening)."""
        watch = self._watches.get(db)
        return watch is not None and watch.subscribers > 0

    def left_within(self, db: str, seconds: float) -> bool:
        """Whether no live feed of ``db`` is open but the last one ended under ``seconds`` ago."""
        watch = self._watches.get(db)
        if watch is None or watch.subscribers > 0 or not watch.left_at:
            return False
        return asyncio.get_running_loop().time() - watch.left_at < seconds

    def mark(self, db: str) -> Mark | None:
        """Where ``db``'s wake-ups stand now, if it is watched (see the module docstring)."""
        watch = self._watches.get(db)
        if watch is None or (not self.server_wide and (watch.task is None or watch.task.done())):
            return None
        return (watch, watch.generation)

    @property
    def watched(self) -> int:
        return len(self._watches)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, db: str, since: object = "now", mark: Mark | None = None
    ) -> AsyncIterator[Subscription]:
        """Wait for changes of ``db``; ``since`` is the sequence the caller has read up to, so
        a change made before the per-database watch is in place still wakes it; ``mark`` the
        :meth:`mark` taken before that read."""
        watch = self._watches.get(db)
        if watch is None:
            watch = self._watches[db] = _Watch()
        watch.subscribers += 1
        if watch.linger is not None:
            watch.linger.cancel()
            watch.linger = None
        if not self.server_wide and (watch.task is None or watch.task.done()):
            watch.task = asyncio.create_task(self._watch_db(db, since), name=f"watch-{db}")
        try:
            yield Subscription(watch, mark)
        finally:
            watch.subscribers -= 1
            if watch.subscribers == 0:
                loop = asyncio.get_running_loop()
                watch.left_at = loop.time()
                watch.linger = loop.call_later(WATCH_LINGER_S, self._drop, db, watch)

    def _drop(self, db: str, watch: _Watch) -> None:
        if watch.subscribers == 0 and self._watches.get(db) is watch:
            del self._watches[db]
            if watch.task is not None:
                watch.task.cancel()

    async def _watch_db(self, db: str, since: object) -> None:
        """One continuous feed per watched database: a change costs CouchDB a row on an open
        response, not a new request (a longpoll would be sent again after every change)."""
        while True:
            try:
                async for row in self.couch.changes_stream(
                    db, since=since, heartbeat_ms=WATCH_HEARTBEAT_MS
                ):
                    since = row.get("seq", since)
                    self.notify(db)
            except CouchError as exc:
                log.debug("watch_failed", db=db, error=str(exc))
                self.notify(db)  # let waiters re-read and surface the problem themselves
                await asyncio.sleep(1.0)

    async def _follow_db_updates(self) -> None:
        while True:
            try:
                # from a known sequence, then wake every waiting feed once: what changed while
                # the feed was down (or before it began) is re-read, and what changes after is
                # in the feed. A spurious wake-up costs one read; a lost one, a stalled device.
                now = await self.couch.request(
                    "GET", "/_db_updates", params={"feed": "normal", "since": "now"}
                )
                for db in list(self._watches):
                    self.notify(db)
                async for row in self.couch.stream_feed("/_db_updates", since=now["last_seq"]):
                    name = row.get("db_name")
                    if isinstance(name, str) and row.get("type") in ("updated", "created"):
                        self.notify(name)
            except CouchError as exc:
                log.warning("db_updates_failed", error=str(exc))
            await asyncio.sleep(1.0)
