"""How the router learns that a rep database was written, without asking each one in turn.

Both kinds call ``on_write(db, created)`` for a database written (sometimes spuriously: a wake-up
costs one ``_changes`` read that finds nothing) and ``on_resync()`` when events may have been
missed. Neither is the router's only source: its safety-net sweep reads the ``update_seq`` of
every database it owns at a fixed, low rate (``worker.py``).

- :class:`DbUpdates` (CouchDB 3): one continuous ``_db_updates`` feed for the whole server,
  however many users. CouchDB fills it from its ``_global_changes`` database, hence three
  caveats: it reports only writes made after ``_global_changes`` exists (a single node creates it
  at its first start, a cluster's set-up must: ``deploy/couchdb-setup.sh``); it is written in
  batches, so an event arrives up to ``[global_changes] max_write_delay`` (500 ms by default)
  after the write; and it is best effort, as CouchDB's documentation says: a node that dies with
  a batch not yet written never reports it. So the feed resumes from the last sequence it showed
  (a broken connection misses nothing CouchDB recorded) and every reconnection asks for a resync
  (one round over the owned databases' ``update_seq``), which covers what was never recorded.
- :class:`DbFeeds` (PouchDB Server, which has no ``_db_updates``): one continuous ``_changes``
  feed per watched database (the users this worker owns), as the change hub does for devices.
  Idle, a feed costs a heartbeat line every ``heartbeat_ms``, not a request; after a break it
  resumes from its last row. It needs a client of its own with an unbounded pool. It passes
  each row (``style=all_docs``) to ``on_write``, so the router can tell its own writes (its
  copies, the notifications beside them) from a device's: a drain for them would read the
  feed and find nothing to carry.

``detect()`` picks :class:`DbUpdates` when the server answers ``_db_updates``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from ..couch import CouchClient, CouchError, CouchNotFound

log = structlog.get_logger(__name__)

OnWrite = Callable[[str, bool, Mapping[str, Any] | None], None]  # db, created, row if known
OnResync = Callable[[], None]


class Discovery(Protocol):
    mode: str

    def watch(self, db: str, since: Any) -> None: ...

    def unwatch(self, db: str) -> None: ...

    async def prepare(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


async def offers_db_updates(couch: CouchClient) -> bool:
    try:
        await couch.request(
            "GET", "/_db_updates", params={"feed": "normal", "timeout": 1, "limit": 1}
        )
    except CouchError:
        return False
    return True


async def detect(
    couch: CouchClient, feed_couch: CouchClient, on_write: OnWrite, on_resync: OnResync
) -> Discovery:
    if await offers_db_updates(couch):
        return DbUpdates(couch, on_write, on_resync)
    return DbFeeds(feed_couch, on_write)


class DbUpdates:
    """One ``_db_updates`` feed for the server; see the module docstring."""

    mode = "_db_updates"

    def __init__(
        self,
        couch: CouchClient,
        on_write: OnWrite,
        on_resync: OnResync,
        *,
        heartbeat_ms: int = 10_000,
        retry_s: float = 1.0,
    ) -> None:
        self.couch = couch
        self.on_write = on_write
        self.on_resync = on_resync
        self.heartbeat_ms = heartbeat_ms
        self.retry_s = retry_s
        self.since: Any = None
        self.connected = False
        self.failures = 0
        self.last_event_at: float | None = None  # wall clock

    def watch(self, db: str, since: Any) -> None:
        pass  # every database is in the one feed

    def unwatch(self, db: str) -> None:
        pass

    async def prepare(self) -> None:
        """Fix the sequence to follow from, before the router's first drain of everything."""
        if self.since is None:
            now = await self.couch.request(
                "GET", "/_db_updates", params={"feed": "normal", "since": "now"}
            )
            self.since = now["last_seq"]

    async def run(self) -> None:
        while True:
            try:
                await self.prepare()
                self._connected()
                async for row in self.couch.stream_feed(
                    "/_db_updates", since=self.since, heartbeat_ms=self.heartbeat_ms
                ):
                    self.since = row.get("seq", self.since)
                    name = row.get("db_name")
                    kind = row.get("type")
                    if isinstance(name, str) and kind in ("updated", "created"):
                        self.last_event_at = time.time()
                        self.on_write(name, kind == "created", None)
            except CouchError as exc:
                self.failures += 1
                log.warning("router_db_updates_failed", error=str(exc), failures=self.failures)
            self.connected = False
            await asyncio.sleep(self.retry_s)
            # the feed resumes from self.since; what CouchDB never recorded is looked for
            self.on_resync()

    def _connected(self) -> None:
        """The feed is open (or opening: its first rows may be heartbeats only)."""
        self.connected = True
        log.info("router_db_updates_following", since=str(self.since)[:24], failures=self.failures)

    async def stop(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "connected": self.connected,
            "failures": self.failures,
            "last_event_at": self.last_event_at,
        }


class DbFeeds:
    """One continuous ``_changes`` feed per watched database; see the module docstring."""

    mode = "per-database"

    def __init__(
        self,
        feed_couch: CouchClient,
        on_write: OnWrite,
        *,
        heartbeat_ms: int = 30_000,
        retry_s: float = 1.0,
    ) -> None:
        self.couch = feed_couch
        self.on_write = on_write
        self.heartbeat_ms = heartbeat_ms
        self.retry_s = retry_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.failures = 0

    def watch(self, db: str, since: Any) -> None:
        task = self._tasks.get(db)
        if task is None or task.done():
            task = asyncio.create_task(self._follow(db, since), name=f"router-watch-{db}")
            self._tasks[db] = task

    def unwatch(self, db: str) -> None:
        task = self._tasks.pop(db, None)
        if task is not None:
            task.cancel()

    async def prepare(self) -> None:
        pass

    async def run(self) -> None:
        await asyncio.Event().wait()  # the feeds are tasks of their own

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def status(self) -> dict[str, Any]:
        return {"mode": self.mode, "feeds": len(self._tasks), "failures": self.failures}

    async def _follow(self, db: str, since: Any) -> None:
        while True:
            try:
                async for row in self.couch.changes_stream(
                    db, since=since, heartbeat_ms=self.heartbeat_ms, style="all_docs"
                ):
                    since = row.get("seq", since)
                    self.on_write(db, False, row)
            except CouchNotFound:
                self._tasks.pop(db, None)
                return  # the database was deleted: the rescan drops the user
            except CouchError as exc:
                self.failures += 1
                log.debug("router_watch_failed", db=db, error=str(exc))
                self.on_write(db, False, None)  # a drain finds out whether anything was missed
            await asyncio.sleep(self.retry_s)
