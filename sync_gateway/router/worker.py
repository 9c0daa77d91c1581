"""The router: follows the shared databases and every rep database and copies between them.

    fs_master ─┐                       ┌─> rep_<id>   fan-out: what each user may see
    fs_orders ─┼─ router (this) ───────┤
    fs_field  ─┘   <── fan-in ─────────┘   orders, visits, notes, work orders the user owns

:class:`Router` coordinates; each job has a module of its own, all sharing one
:class:`.context.RouterContext`:

    fanout.py     the shared feeds -> the users' databases (and the membership deltas)
    fanin.py      a user's database -> fs_orders / fs_field, ownership checked again
    reconcile.py  a user's database made to hold what the assignment index says
    state.py      what is remembered per database: one ``SharedFeed`` per shared database,
                  one ``RepDb`` per followed user, created by ``add_user_db`` / a rescan and
                  dropped by ``_drop_user`` only (everything kept for the user goes with it)
    emitter.py    the events and write reports the router sends out
    drains.py     when a rep database is drained; discovery.py how its writes are found;
                  leases.py who owns what; settle.py a push let settle before its fan-in

What runs (``run()``):

- one follower per shared database (``FanOut.follow``).
- the rep databases' writes are found by the store's own notification (``discovery.py``:
  CouchDB's ``_db_updates``, or one continuous feed per owned database on PouchDB Server) and
  by ``notify_rep_changed`` (a gateway in this process after a push); each names a database
  whose feed is drained at once, so a gateway in another process need tell the router nothing.
  Rows that are only the router's own copy of a revision are skipped.
- a safety-net sweep: every ``poll_interval_s`` a round over the owned rep databases'
  ``update_seq``, at most ``sweep_per_s`` reads a second (so its cost does not grow with the
  users: with many, a round just takes longer), unpaced right after discovery may have missed
  events (a ``_db_updates`` reconnection).
- a rescan of ``_all_dbs`` every ``rescan_interval_s`` picks up new and dropped rep databases;
  ``add_user_db(user_id)`` does it at once for one user (the API calls it after creating one; a
  ``created`` row of ``_db_updates`` too).

Several workers (``leases.py``): each rep database's fan-in belongs to the worker holding its
bucket's lease, and the fan-out with every other write into a rep database to the one worker
holding ``router-shared``; every worker keeps the assignment index (it follows the shared feeds,
only the holder copies and checkpoints). All of a rep database's writes thus come from one
process, so the per-user write lock (``RepDb.write_lock``) orders them. Taking
``router-shared`` over rebuilds the index and reconciles every rep database, as a start does;
taking a bucket resumes each of its databases from the checkpoint the last owner wrote. A
worker stops writing where its lease lapses by its own clock (before anyone may take over) and
never saves a checkpoint then.

A worker killed mid-batch loses nothing and copies nothing twice that matters: a checkpoint is
written only after what its page implied was written, so the next owner re-reads at most that
page; copies are ``new_edits=false`` writes of revisions with their history, checked with
``_revs_diff`` first, so a revision copied again is the same revision (CouchDB stores a revision
id once per document: no second order in fs_orders, no new revision, nothing for the resolver);
the router's tombstones have revision ids derived from their parent (``copier.py``), and the
notifications it emits are deduplicated by the outbox.

Start-up (and ``run_once()``'s first call) builds the index from the shared databases, catches up
every feed from its checkpoint, then reconciles each rep database in full (its live ids against
what the index says it must hold). That repairs what happened while the router was down or was
killed between an index change and its delta; it reads each rep database's ids once.

Without leases (``SoleOwnership``, the default here) one router owns everything: tests and
``worker --once``. Two such routers would copy the same revisions twice, which is harmless, but
a lagging one could apply an old territory decision after a newer one (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import structlog

from mobile_schema import doc_type_of

from ..couch import CouchClient, CouchError, CouchNotFound
from ..databases import Databases, ensure_databases
from .assignments import Assignments
from .checkpoints import Checkpoints
from .context import RouterContext
from .copier import Copier
from .discovery import Discovery, detect
from .drains import Drains
from .emitter import Emitter, EventCallback
from .fanin import FanIn
from .fanout import FanOut
from .leases import Change, LeaseLapsed, Ownership, SoleOwnership, bucket_of
from .reconcile import Reconciler
from .rules import FAN_IN_OWNER_FIELD
from .settle import PushSettle
from .state import RepDb, RouterState

log = structlog.get_logger(__name__)

__all__ = ["EventCallback", "Router"]


class Router:
    """Follows fs_master, fs_orders, fs_field and every rep database; see the module docstring."""

    def __init__(
        self,
        couch: CouchClient,
        dbs: Databases,
        *,
        on_event: EventCallback | None,
        on_db_written: Callable[[str], None] | None = None,
        page_size: int = 200,
        poll_interval_s: float = 1.0,
        sweep_per_s: float | None = None,
        rescan_interval_s: float = 5.0,
        heartbeat_ms: int = 10_000,
        concurrency: int = 32,  # measured: 8 left a 1,000-user burst 2 s behind (p50)
        retry_s: float = 1.0,
        ownership: Ownership | None = None,
        discovery: Discovery | None = None,
        feed_couch: CouchClient | None = None,
        rep_page_size: int = 1000,
        settle: PushSettle | None = None,
    ) -> None:
        """``on_event`` has no default: a router that copies and tells no one must be asked
        for (``None``, tests), never happen because a caller forgot the notifier.
        ``feed_couch``: a client with an unbounded pool for the per-database feeds (PouchDB
        Server); ``discovery``: given, or chosen by :func:`.discovery.detect` in :meth:`run`."""
        self.couch = couch
        self.dbs = dbs
        self.page_size = page_size
        self.rescan_interval_s = rescan_interval_s
        self.retry_s = retry_s
        self.state = RouterState(self.shared_sources)
        self.checkpoints = Checkpoints(couch, dbs.ops)
        self.copier = Copier(couch, batch_size=page_size)
        self.settle = settle or PushSettle()
        # told of every write discovery reports to a rep database (the snapshot builder)
        self.write_listeners: list[Callable[[str], None]] = []
        self.emitter = Emitter(on_event, on_db_written)
        self._background: set[asyncio.Task[Any]] = set()
        self.ownership: Ownership = ownership or SoleOwnership()
        self.ownership.listen(self._on_ownership)
        self.ctx = RouterContext(
            couch=couch,
            dbs=dbs,
            state=self.state,
            copier=self.copier,
            checkpoints=self.checkpoints,
            ownership=self.ownership,
            emitter=self.emitter,
            page_size=page_size,
            copy_slots=asyncio.Semaphore(concurrency),
            drop_user=self._drop_user,
        )
        self.reconciler = Reconciler(self.ctx)
        self.fan_out = FanOut(self.ctx, self.reconciler, heartbeat_ms=heartbeat_ms, retry_s=retry_s)
        self.fan_in = FanIn(
            self.ctx, settle=self.settle, rep_page_size=rep_page_size, concurrency=concurrency * 4
        )
        self.drains = Drains(
            drain=lambda u: self.fan_in.drain(u, complete=True),
            update_seq=self._update_seq,
            owned=self._owned,
            owns=self.ownership.owns,
            claims=self.ownership.claims,
            poll_interval_s=poll_interval_s,
            sweep_per_s=sweep_per_s,
            retry_s=retry_s,
            # the sweep's reads have their own, smaller allowance: a thousand of them must
            # never queue in front of a burst's copies
            concurrency=max(1, concurrency // 16),
        )
        self.discovery = discovery
        self.feed_couch = feed_couch or couch
        self._started = False
        self.phase = "starting"  # then "routing"; "reconciling" while taking router-shared
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def shared_sources(self) -> tuple[str, str, str]:
        return (self.dbs.master, self.dbs.field, self.dbs.orders)

    @property
    def index(self) -> Assignments:
        """The assignment index (replaced whole when it is rebuilt)."""
        return self.state.index

    @property
    def users(self) -> list[str]:
        """The field users whose databases the router follows."""
        return sorted(self.state.reps)

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the index, catch up every feed and reconcile every rep database (once)."""
        async with self._start_lock:
            if self._started:
                return
            await ensure_databases(self.couch, self.dbs)
            await self.ownership.start()
            await self._rebuild()
            await self._rescan(reconcile=False)
            await self._quiesce()
            if self.ownership.owns_shared:
                for user_id in self.users:
                    await self.reconciler.user(user_id)
            self._started = True
            self.phase = "routing"
            log.info(
                "router_started",
                users=len(self.state.reps),
                owned=len(self._owned()),
                shared=self.ownership.owns_shared,
                indexed=len(self.state.index),
            )
        await self._quiesce()

    async def run_once(self) -> None:
        """Drain every source to its current end (and pick up new rep databases)."""
        if not self._started:
            await self.start()
            return
        await self._rescan(reconcile=True)
        await self._quiesce()

    async def run(self) -> None:
        """Follow every feed until cancelled or :meth:`stop` is called."""
        if self.discovery is None:
            self.discovery = await detect(
                self.couch, self.feed_couch, self._on_write, self.drains.resync
            )
        # before the first drain: what is written from now on is in the notification
        await self.discovery.prepare()
        # the leases are renewed from the first moment: a start can take longer than they live
        await self.ownership.start()
        leases = asyncio.create_task(self.ownership.run(), name="router-leases")
        self._tasks = [leases]
        await self.start()
        for user_id in self._owned():
            self._ensure_watch(user_id)
        log.info("router_discovery", mode=self.discovery.mode)
        self._tasks = [
            leases,
            *(
                asyncio.create_task(self.fan_out.follow(s), name=f"router-{s}")
                for s in self.shared_sources
            ),
            asyncio.create_task(self.discovery.run(), name="router-discovery"),
            asyncio.create_task(self.drains.sweep(), name="router-sweep"),
            asyncio.create_task(self._rescan_loop(), name="router-rescan"),
        ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self._cancel_tasks()

    async def stop(self) -> None:
        """Stop every loop and hand the leases back, so another worker takes over at once."""
        await self._cancel_tasks()
        await self.ownership.stop()
        if self.discovery is not None:
            await self.discovery.stop()

    async def _cancel_tasks(self) -> None:
        tasks = [*self._tasks, *self._background]
        self._tasks = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.drains.stop()

    async def add_user_db(self, user_id: str) -> None:
        """Follow the database of ``user_id`` (it must exist) and fill it now."""
        self.state.add_rep(user_id, self.dbs.rep(user_id))
        if self._started:
            if self.ownership.owns(user_id):
                await self.fan_in.drain(user_id)
                self._ensure_watch(user_id)
            await self.reconciler.user(user_id)

    def notify_rep_changed(self, user_id: str) -> None:
        """A device wrote to the user's database: drain its feed without waiting for the poll."""
        rep = self.state.rep(user_id)
        if rep is not None:
            self.settle.mark(rep.db)
            self.drains.mark(user_id)

    def push_request_ended(self, db: str) -> None:
        """A device's request in a push on ``db`` ended: let the push settle (settle.py)."""
        self.settle.mark(db)

    def pushing(self, db: str) -> AbstractContextManager[None]:
        """A device's ``_bulk_docs`` on ``db`` is being stored: hold its fan-in until done."""
        return self.settle.pushing(db)

    def status(self) -> dict[str, Any]:
        """What this worker is doing, for the presence lease (docs/deploy.md, what to watch)."""
        return {
            "phase": self.phase,
            "users": len(self.state.reps),
            "owned": len(self._owned()),
            "dirty": len(self.drains.dirty),
            "draining": len(self.drains.draining),
            "discovery": self.discovery.status() if self.discovery is not None else None,
        }

    # -- who owns what ---------------------------------------------------------------------

    def _owned(self) -> list[str]:
        return [u for u in self.users if self.ownership.owns(u)]

    async def _on_ownership(self, change: Change) -> None:
        """Leases gained or lost (``leases.py``); returns once no work on lost users is left."""
        if not self._started:
            return  # start() acts on what is owned then
        affected = [u for u in self.users if bucket_of(u) in change.lost]
        for user_id in affected:
            await self._let_go(user_id)
        for user_id in self.users:
            if bucket_of(user_id) in change.gained:
                self._spawn(self._adopt(user_id))
        if change.shared is True:
            self._spawn(self._take_shared())
        elif change.shared is False:
            self.state.clear_pending()  # the next holder reconciles everything
        # work refused while a lease had run out by the clock, now renewed
        self.drains.kick()

    async def _let_go(self, user_id: str) -> None:
        rep = self.state.rep(user_id)
        if rep is None:
            return
        if self.discovery is not None:
            self.discovery.unwatch(rep.db)
        self.drains.forget(user_id)
        async with rep.drain_lock:  # a drain in flight finishes its page
            # the next owner moves the checkpoint on: re-read it if this user comes back
            rep.release()

    async def _adopt(self, user_id: str) -> None:
        """A user of a bucket just taken: resume their database from its checkpoint."""
        rep = self.state.rep(user_id)
        while rep is not None and self.ownership.owns(user_id):
            try:
                async with rep.drain_lock:
                    if not rep.loaded:
                        seq = await self.checkpoints.load(rep.db)
                        rep.resume(seq, asyncio.get_running_loop().time())
                break
            except CouchError as exc:
                # a takeover comes when the store is busiest: give up and this user's
                # database is neither followed nor drained until the slow sweep finds it
                log.warning("router_adopt_retry", user_id=user_id, error=str(exc))
                await asyncio.sleep(self.retry_s)
                rep = self.state.rep(user_id)
        else:
            return
        self._ensure_watch(user_id)
        self.drains.mark(user_id)

    async def _take_shared(self) -> None:
        """``router-shared`` was taken: rebuild and reconcile everything, as a start does."""
        while self.ownership.owns_shared:
            self.phase = "reconciling"
            try:
                locks = [feed.lock for feed in self.state.shared.values()]
                for lock in locks:
                    await lock.acquire()
                try:
                    await self._rebuild()
                finally:
                    for lock in locks:
                        lock.release()
                for source in self.shared_sources:
                    await self.fan_out.drain(source)
                for user_id in self.users:
                    await self.reconciler.user(user_id)
                log.info("router_shared_taken", users=len(self.state.reps))
                self.phase = "routing"
                return
            except (CouchError, LeaseLapsed) as exc:
                log.warning("router_take_shared_failed", error=repr(exc))
                await asyncio.sleep(self.retry_s)

    async def _rebuild(self) -> None:
        """The assignment index from the shared databases, and their checkpoints.

        A checkpoint is read before its database: a change in between is applied twice, which
        the index shrugs off, while the other order could skip one.
        """
        index = Assignments()
        seqs = {}
        for source in self.shared_sources:
            seqs[source] = await self.checkpoints.load(source)
            async for docs in self.copier.all_docs(source):
                index.load(docs)
        self.state.index = index
        for source, seq in seqs.items():
            self.state.shared[source].seq = seq
        self.state.clear_pending()

    def _ensure_watch(self, user_id: str) -> None:
        rep = self.state.rep(user_id)
        if rep is not None and self.discovery is not None and self.ownership.owns(user_id):
            self.discovery.watch(rep.db, rep.seq)

    def _on_write(self, db: str, created: bool, row: Mapping[str, Any] | None = None) -> None:
        """The store reported a write to ``db`` (discovery; ``row`` when its feed showed it)."""
        user_id = self.dbs.user_of(db)
        if user_id is None:
            return
        for listener in self.write_listeners:
            listener(user_id)
        rep = self.state.rep(user_id)
        if rep is not None:
            if row is None or self._for_fan_in(rep, row):
                self.drains.mark(user_id)
        elif created and self._started:
            log.info("router_rep_db_found", user_id=user_id)
            self._spawn(self.add_user_db(user_id))

    @staticmethod
    def _for_fan_in(rep: RepDb, row: Mapping[str, Any]) -> bool:
        """Whether a row of a rep database's feed may be a device's write for the fan-in: not
        a kind that never travels back (a notification), nor only the router's own copy."""
        return doc_type_of(str(row.get("id", ""))) in FAN_IN_OWNER_FIELD and not rep.is_echo(row)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # -- the users' databases --------------------------------------------------------------

    async def _quiesce(self) -> None:
        """Drain all feeds until a whole round finds nothing new (copies cause echoes)."""
        while True:
            progressed = False
            for source in self.shared_sources:
                progressed |= await self.fan_out.drain(source)
            results = await asyncio.gather(*(self.fan_in.drain(u) for u in self._owned()))
            progressed |= any(results)
            if not progressed:
                return

    async def _update_seq(self, user_id: str) -> Any:
        """For the sweep: the database's ``update_seq`` (None when it is gone)."""
        rep = self.state.rep(user_id)
        if rep is None:
            return None
        self._ensure_watch(user_id)
        try:
            return (await self.couch.db_info(rep.db))["update_seq"]
        except CouchNotFound:
            await self._drop_user(user_id)
            return None

    async def _rescan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rescan_interval_s)
            try:
                await self._rescan(reconcile=True)
            except (CouchError, LeaseLapsed) as exc:
                log.warning("router_rescan_failed", error=repr(exc))

    async def _rescan(self, *, reconcile: bool) -> None:
        found: dict[str, str] = {}
        for db in await self.couch.all_dbs():
            user_id = self.dbs.user_of(db)
            if user_id is not None:
                found[user_id] = db
        for user_id in set(self.state.reps) - set(found):
            await self._drop_user(user_id)
        for user_id in sorted(set(found) - set(self.state.reps)):
            log.info("router_rep_db_found", user_id=user_id)
            if reconcile:
                await self.add_user_db(user_id)
            else:
                self.state.add_rep(user_id, found[user_id])

    async def _drop_user(self, user_id: str) -> None:
        """The user's database is gone: stop following it and forget everything kept for it."""
        rep = self.state.drop_rep(user_id)
        if rep is not None:
            log.info("router_rep_db_gone", user_id=user_id)
            if self.discovery is not None:
                self.discovery.unwatch(rep.db)
            self.drains.forget(user_id)
            self.settle.forget(rep.db)
            await self.checkpoints.forget(rep.db)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("router_task_failed", error=repr(task.exception()))
