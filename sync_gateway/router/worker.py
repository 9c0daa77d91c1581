"""The router: follows the shared databases and every rep database and copies between them.

    fs_master ─┐                       ┌─> rep_<id>   fan-out: what each user may see
    fs_orders ─┼─ router (this) ───────┤
    fs_field  ─┘   <── fan-in ─────────┘   orders, visits, notes, work orders the user owns

What runs (``run()``):

- one follower per shared database: a continuous ``_changes`` feed used only as a wake-up, and
  normal ``_changes`` pages (``style=all_docs``, ``include_docs``, ``page_size`` rows) read from
  the checkpoint. A back-office change reaches the rep database within one round of requests.
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
process, so the per-user lock below orders them. Taking ``router-shared`` over rebuilds the
index and reconciles every rep database, as a start does; taking a bucket resumes each of its
databases from the checkpoint the last owner wrote. A worker stops writing where its lease
lapses by its own clock (before anyone may take over) and never saves a checkpoint then.

A worker killed mid-batch loses nothing and copies nothing twice that matters: a checkpoint is
written only after what its page implied was written, so the next owner re-reads at most that
page; copies are ``new_edits=false`` writes of revisions with their history, checked with
``_revs_diff`` first, so a revision copied again is the same revision (CouchDB stores a revision
id once per document: no second order in fs_orders, no new revision, nothing for the resolver);
the router's tombstones have revision ids derived from their parent (``copier.py``), and the
notifications it emits are deduplicated by the outbox.

Fan-in (a rep database's feed, ``rep_page_size`` rows at a time): a drain first lets a device's
push in this process settle (``settle.py``: quiet for 0.25 s, at most 5 s), so a phone's batches
are carried in together, after the push rather than in front of its next batch; then per batch
of ``page_size`` documents, batches side by side: ``_revs_diff`` and ``_all_docs`` of the target
at once (what it lacks; the owner at home), ``_bulk_get`` from the rep database, the push
records in one ``_bulk_docs``, the copy. The fan-out then skips the pusher's own database for
a shared row that is only the revision just carried in from it (it has that revision).

Each page of a shared feed: the winning revisions update the assignment index, which yields the
membership delta; every changed document is copied (all leaves, ``_revs_diff`` first,
``new_edits=false``) to the users it targets (a deletion also to those who had it); then the
delta is applied by reconciling its (user, id) pairs against the index: a target that lacks the
document gets it from its home database, a user who may no longer see it gets a router
tombstone in their database only (orders stay). The checkpoint is written last.

Writes to one rep database are serialised by a lock per user and re-decided under it against the
index of that moment, so a copy and a tombstone of the same document cannot overtake each other.

Start-up (and ``run_once()``'s first call) builds the index from the shared databases, catches up
every feed from its checkpoint, then reconciles each rep database in full (its live ids against
what the index says it must hold). That repairs what happened while the router was down or was
killed between an index change and its delta; it reads each rep database's ids once.

Re-gaining a document whose router tombstone sits on top of the source's current revision needs
a new revision (a copy of a revision the database already has changes nothing): the router then
writes the same body again as a child of the source's winner in the home database, and the
follower carries that revision everywhere.

Events (``on_event(kind, payload)``, errors in the callback are logged and ignored):

    "order_changed"        {"user_id", "doc"}        an fs_orders revision is about to reach a
                                                     rep db (awaited before the copy)
    "assignment_gained"    {"user_id", "doc_ids"}    visits / work orders / territories
    "assignment_lost"      {"user_id", "doc_ids"}

Fan-in checks ownership again (defence in depth for writes the gateway never saw, e.g. straight
into a rep database): a revision is copied into a shared database only when its owner field is
the rep database's user AND the document's current revision at home has that owner (one
``_all_docs`` of the target per batch); a document deleted at home stays deleted. Refusals are
counted (``fieldsync_router_fan_in_refused_total{reason}``) and logged as
``security_fan_in_refused``; the rest of the batch is copied. Before copying, the router
records who pushed each revision (provenance.py: the rep database's owner).

Without leases (``SoleOwnership``, the default here) one router owns everything: tests and
``worker --once``. Two such routers would copy the same revisions twice, which is harmless, but
a lagging one could apply an old territory decision after a newer one (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import structlog

from mobile_schema import doc_type_of

from .. import metrics
from ..couch import CouchClient, CouchError, CouchNotFound, chunked
from ..databases import Databases, ensure_databases
from ..provenance import record_pushes
from ..work import stage
from .assignments import Assignments, Delta
from .checkpoints import Checkpoints
from .copier import Copier, DocState, is_router_tombstone
from .discovery import Discovery, detect
from .drains import Drains
from .leases import Change, LeaseLapsed, Ownership, SoleOwnership, bucket_of
from .rules import (
    ASSIGNMENT_EVENT_TYPES,
    FAN_IN_OWNER_FIELD,
    HOME_DB,
    SharedDb,
    device_may_delete,
    fan_in_target,
)
from .settle import PushSettle

log = structlog.get_logger(__name__)

EventCallback = Callable[[str, dict[str, Any]], Any]
ECHO_CHECKPOINT_S = 10.0
SKIP = "skip"  # a fan-in refusal that is nobody's attack (see _fan_in_refusal)
MAX_FAN_IN_ECHOES = 100_000


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
        self.on_event = on_event
        self.on_db_written = on_db_written
        self.page_size = page_size
        self.poll_interval_s = poll_interval_s
        self.sweep_per_s = sweep_per_s
        self.rescan_interval_s = rescan_interval_s
        self.heartbeat_ms = heartbeat_ms
        self.retry_s = retry_s
        self.index = Assignments()
        self.checkpoints = Checkpoints(couch, dbs.ops)
        self.copier = Copier(couch, batch_size=page_size)
        self.rep_page_size = rep_page_size  # rows of a rep database's feed carried in at once
        self.settle = settle or PushSettle()
        # revisions the fan-in just carried from a rep database into a shared one, until the
        # shared feed shows them: {shared db: {doc id: (rev, user id)}}. That user's database
        # has the revision (it came from there), so the fan-out need not ask it again.
        self._fanned_in: dict[str, dict[str, tuple[str, str]]] = {}
        self._users: dict[str, str] = {}  # user id -> rep database
        # told of every write discovery reports to a rep database (the snapshot builder)
        self.write_listeners: list[Callable[[str], None]] = []
        self._seqs: dict[str, Any] = {}  # source database -> last sequence finished
        # revisions the router itself wrote into a rep database, until its feed shows them: a
        # row that is only that revision is the router's own echo, not a device's write
        self._copied: dict[str, dict[str, str]] = {}
        self._rep_saved_at: dict[str, float] = {}  # rep database -> last checkpoint write
        self._user_locks: dict[str, asyncio.Lock] = {}
        self._source_locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[str, tuple[dict[str, dict[str, list[str]]], Delta, set[str]]] = {}
        self._sem = asyncio.Semaphore(concurrency)  # copies into rep databases
        self._rep_sem = asyncio.Semaphore(concurrency * 4)
        self._event_tasks: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.ownership: Ownership = ownership or SoleOwnership()
        self.ownership.listen(self._on_ownership)
        self.drains = Drains(
            drain=lambda u: self._drain_rep(u, complete=True),
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
    def users(self) -> list[str]:
        """The field users whose databases the router follows."""
        return sorted(self._users)

    def _home(self, home: SharedDb) -> str:
        return {"master": self.dbs.master, "orders": self.dbs.orders, "field": self.dbs.field}[home]

    def _user_lock(self, user_id: str) -> asyncio.Lock:
        return self._user_locks.setdefault(user_id, asyncio.Lock())

    def _source_lock(self, db: str) -> asyncio.Lock:
        return self._source_locks.setdefault(db, asyncio.Lock())

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
                    await self._reconcile_user(user_id)
            self._started = True
            self.phase = "routing"
            log.info(
                "router_started",
                users=len(self._users),
                owned=len(self._owned()),
                shared=self.ownership.owns_shared,
                indexed=len(self.index),
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
                asyncio.create_task(self._follow_shared(s), name=f"router-{s}")
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
        if user_id not in self._users:
            self._users[user_id] = self.dbs.rep(user_id)
        if self._started:
            if self.ownership.owns(user_id):
                await self._drain_rep(user_id)
                self._ensure_watch(user_id)
            await self._reconcile_user(user_id)

    def notify_rep_changed(self, user_id: str) -> None:
        """A device wrote to the user's database: drain its feed without waiting for the poll."""
        if user_id in self._users:
            self.settle.mark(self._users[user_id])
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
            "users": len(self._users),
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
            self._pending.clear()  # the next holder reconciles everything
        # work refused while a lease had run out by the clock, now renewed
        self.drains.kick()

    async def _let_go(self, user_id: str) -> None:
        db = self._users.get(user_id)
        if db is None:
            return
        if self.discovery is not None:
            self.discovery.unwatch(db)
        self.drains.forget(user_id)
        async with self._source_lock(db):  # a drain in flight finishes its page
            # the next owner moves the checkpoint on: re-read it if this user comes back
            self._seqs.pop(db, None)
            self._copied.pop(db, None)
            self._rep_saved_at.pop(db, None)

    async def _adopt(self, user_id: str) -> None:
        """A user of a bucket just taken: resume their database from its checkpoint."""
        db = self._users.get(user_id)
        if db is None:
            return
        async with self._source_lock(db):
            if db not in self._seqs:
                self._seqs[db] = await self.checkpoints.load(db)
        self._ensure_watch(user_id)
        self.drains.mark(user_id)

    async def _take_shared(self) -> None:
        """``router-shared`` was taken: rebuild and reconcile everything, as a start does."""
        while self.ownership.owns_shared:
            self.phase = "reconciling"
            try:
                locks = [self._source_lock(s) for s in self.shared_sources]
                for lock in locks:
                    await lock.acquire()
                try:
                    await self._rebuild()
                finally:
                    for lock in locks:
                        lock.release()
                for source in self.shared_sources:
                    await self._drain_shared(source)
                for user_id in self.users:
                    await self._reconcile_user(user_id)
                log.info("router_shared_taken", users=len(self._users))
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
        self.index = index
        self._seqs.update(seqs)
        self._pending.clear()

    def _ensure_watch(self, user_id: str) -> None:
        db = self._users.get(user_id)
        if db is not None and self.discovery is not None and self.ownership.owns(user_id):
            self.discovery.watch(db, self._seqs.get(db, 0))

    def _on_write(self, db: str, created: bool) -> None:
        """The store reported a write to ``db`` (discovery)."""
        user_id = self.dbs.user_of(db)
        if user_id is None:
            return
        for listener in self.write_listeners:
            listener(user_id)
        if user_id in self._users:
            self.drains.mark(user_id)
        elif created and self._started:
            log.info("router_rep_db_found", user_id=user_id)
            self._spawn(self.add_user_db(user_id))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # -- loops -----------------------------------------------------------------------------

    async def _quiesce(self) -> None:
        """Drain all feeds until a whole round finds nothing new (copies cause echoes)."""
        while True:
            progressed = False
            for source in self.shared_sources:
                progressed |= await self._drain_shared(source)
            results = await asyncio.gather(*(self._drain_rep(u) for u in self._owned()))
            progressed |= any(results)
            if not progressed:
                return

    async def _follow_shared(self, source: str) -> None:
        while True:
            try:
                await self._drain_shared(source)
                wake = asyncio.Event()
                watcher = asyncio.create_task(self._watch(source, self._seqs[source], wake))
                try:
                    while not watcher.done():
                        await wake.wait()
                        wake.clear()
                        await self._drain_shared(source)
                    watcher.result()
                finally:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError, CouchError):
                        await watcher
            except (CouchError, LeaseLapsed) as exc:
                log.warning("router_feed_failed", source=source, error=repr(exc))
                await asyncio.sleep(self.retry_s)

    async def _watch(self, source: str, since: Any, wake: asyncio.Event) -> None:
        try:
            async for _row in self.couch.changes_stream(
                source, since=since, heartbeat_ms=self.heartbeat_ms
            ):
                wake.set()
        finally:
            wake.set()

    async def _update_seq(self, user_id: str) -> Any:
        """For the sweep: the database's ``update_seq`` (None when it is gone)."""
        db = self._users.get(user_id)
        if db is None:
            return None
        self._ensure_watch(user_id)
        try:
            return (await self.couch.db_info(db))["update_seq"]
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
        for user_id in set(self._users) - set(found):
            await self._drop_user(user_id)
        for user_id in sorted(set(found) - set(self._users)):
            log.info("router_rep_db_found", user_id=user_id)
            if reconcile:
                await self.add_user_db(user_id)
            else:
                self._users[user_id] = found[user_id]

    async def _drop_user(self, user_id: str) -> None:
        db = self._users.pop(user_id, None)
        if db is not None:
            log.info("router_rep_db_gone", user_id=user_id)
            if self.discovery is not None:
                self.discovery.unwatch(db)
            self.drains.forget(user_id)
            self._seqs.pop(db, None)
            self._copied.pop(db, None)
            self._rep_saved_at.pop(db, None)
            await self.checkpoints.forget(db)

    # -- fan-out ---------------------------------------------------------------------------

    async def _drain_shared(self, source: str) -> bool:
        """Process ``source`` from its checkpoint to its end; True when there was anything."""
        progressed = False
        async with self._source_lock(source):
            while True:
                page = await self.couch.changes(
                    source,
                    since=self._seqs.get(source, 0),
                    limit=self.page_size,
                    style="all_docs",
                    include_docs=True,
                )
                rows = [r for r in page.results if not r["id"].startswith("_design/")]
                if not self.ownership.owns_shared:
                    # another worker fans out: keep the index current, copy nothing
                    self._pending.pop(source, None)
                    self._index_only(rows)
                    progressed |= bool(rows)
                    self._seqs[source] = page.last_seq
                elif rows or source in self._pending:
                    await self._fan_out(source, rows)
                    await self._events_settled()
                    progressed = True
                if self.ownership.owns_shared and page.last_seq != self._seqs.get(source):
                    self._seqs[source] = page.last_seq
                    await self.checkpoints.save(source, page.last_seq)
                if len(page.results) < self.page_size:
                    return progressed

    def _index_only(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            doc = row.get("doc") or {"_id": row["id"]}
            self.index.apply_doc(doc, deleted=bool(row.get("deleted")))

    async def _fan_out(self, source: str, rows: list[dict[str, Any]]) -> None:
        # What an interrupted attempt at this page computed is kept until it succeeds: on a
        # retry the index already holds the change and would compute no delta again.
        plan, delta, deleted = self._pending.pop(source, ({}, Delta(), set()))
        self._pending[source] = (plan, delta, deleted)
        orders: dict[str, dict[str, Any]] = {}
        for row in rows:
            doc_id = row["id"]
            is_deleted = bool(row.get("deleted"))
            doc = row.get("doc") or {"_id": doc_id}
            before = self.index.targets(doc_id)
            revs = [c["rev"] for c in row["changes"]]
            pusher = self._fan_in_echo(source, doc_id, revs)
            change = self.index.apply_doc(doc, deleted=is_deleted)
            if pusher is not None and doc_type_of(doc_id) not in ASSIGNMENT_EVENT_TYPES:
                # the pusher's database holds the document: its one leaf came from there
                change.gained.get(pusher, set()).discard(doc_id)
                if not change.gained.get(pusher, True):
                    del change.gained[pusher]
            delta.merge(change)
            after = self.index.targets(doc_id)
            if is_deleted:
                deleted.add(doc_id)
            else:
                deleted.discard(doc_id)
            everyone = after.everyone or (is_deleted and before.everyone)
            users = set(self._users) if everyone else set(after.users)
            if is_deleted:
                users |= before.users
            for user_id in users & self._users.keys():
                if user_id != pusher:
                    plan.setdefault(user_id, {})[doc_id] = revs
            if source == self.dbs.orders and not is_deleted:
                orders[doc_id] = doc
        cache: dict[tuple[str, str], Any] = {}
        await asyncio.gather(
            *(self._copy_to(u, source, revs, deleted, cache, orders) for u, revs in plan.items())
        )
        await self._apply_delta(delta)
        del self._pending[source]

    async def _copy_to(
        self,
        user_id: str,
        source: str,
        revs: Mapping[str, list[str]],
        deleted: set[str],
        cache: dict[tuple[str, str], Any],
        orders: Mapping[str, dict[str, Any]],
    ) -> None:
        db = self._users.get(user_id)
        if db is None:
            return

        def allowed(doc_id: str) -> bool:
            return doc_id in deleted or self.index.targets(doc_id).includes(user_id)

        async with self._sem, self._user_lock(user_id):
            if not self.ownership.owns_shared:
                # the page stays pending, unsaved: retried once the lease is renewed
                raise LeaseLapsed("router-shared")
            wanted = {i: r for i, r in revs.items() if allowed(i)}
            try:
                missing = await self.copier.missing(db, wanted)
                if not missing:
                    return
                docs = await self.copier.fetch(source, missing, cache)
                docs = [d for d in docs if allowed(d["_id"])]
                # notify before the copy: a crash in between re-copies and re-notifies (the
                # outbox dedupes), while notifying after could lose the notification
                for doc_id in sorted({d["_id"] for d in docs} & orders.keys()):
                    await self._emit_now(
                        "order_changed", {"user_id": user_id, "doc": orders[doc_id]}
                    )
                errors = await self.copier.write(db, docs)
            except CouchNotFound:
                await self._drop_user(user_id)
                return
            if self.ownership.owns(user_id):  # only the fan-in's owner reads the echoes
                copied = self._copied.setdefault(db, {})
                for doc in docs:
                    copied[doc["_id"]] = doc["_rev"]
        if errors:
            log.warning("router_copy_errors", db=db, errors=errors[:5], count=len(errors))
        self._written(db)

    async def _apply_delta(self, delta: Delta) -> None:
        if not delta:
            return
        await asyncio.gather(*(self._reconcile(u, ids) for u, ids in delta.by_user().items()))
        for kind, part in (("assignment_gained", delta.gained), ("assignment_lost", delta.lost)):
            for user_id, ids in sorted(part.items()):
                shown = sorted(i for i in ids if doc_type_of(i) in ASSIGNMENT_EVENT_TYPES)
                if shown:
                    self._emit(kind, {"user_id": user_id, "doc_ids": shown})

    # -- reconciliation --------------------------------------------------------------------

    async def _reconcile_user(self, user_id: str) -> None:
        """Make the user's database hold exactly what the index says (orders excepted)."""
        db = self._users.get(user_id)
        if db is None or not self.ownership.owns_shared:
            return
        desired = self.index.members(user_id)
        present: set[str] = set()
        try:
            async for ids in self.copier.live_ids(db):
                present.update(ids)
        except CouchNotFound:
            await self._drop_user(user_id)
            return
        extra = {i for i in present - desired if doc_type_of(i) in HOME_DB}
        todo = sorted((desired - present) | extra)
        for start in range(0, len(todo), self.page_size):
            await self._reconcile(user_id, todo[start : start + self.page_size])

    async def _reconcile(self, user_id: str, ids: Iterable[str]) -> None:
        """Bring each of ``ids`` in the user's database in line with the index, now."""
        db = self._users.get(user_id)
        if db is None:
            return
        async with self._sem, self._user_lock(user_id):
            if not self.ownership.owns_shared:
                raise LeaseLapsed("router-shared")
            keep: dict[str, list[str]] = {}
            drop: list[str] = []
            mirror: dict[str, list[str]] = {}
            for doc_id in ids:
                kind = doc_type_of(doc_id)
                if kind is None or kind not in HOME_DB:
                    continue
                if not self.index.known(doc_id):
                    mirror.setdefault(self._home(HOME_DB[kind]), []).append(doc_id)
                elif self.index.targets(doc_id).includes(user_id):
                    keep.setdefault(self._home(HOME_DB[kind]), []).append(doc_id)
                elif kind != "order":
                    drop.append(doc_id)
            try:
                wrote = False
                if drop:
                    wrote |= bool(await self.copier.tombstone(db, drop))
                for home, home_ids in mirror.items():
                    wrote |= await self._mirror_deletions(home, db, home_ids)
                for home, home_ids in keep.items():
                    wrote |= await self._give(home, db, home_ids)
            except CouchNotFound:
                await self._drop_user(user_id)
                return
        if wrote:
            self._written(db)

    async def _give(self, home: str, db: str, ids: list[str]) -> bool:
        """Copy ``ids`` whole (every leaf) from their home database into ``db``."""
        states = await self.copier.states(home, ids, include_docs=True)
        live = {i: s for i, s in states.items() if not s.deleted}
        written = await self.copier.copy(home, db, {i: s.leaves for i, s in live.items()})
        # A router tombstone on top of the home's winner hides it, and copying a revision the
        # database already has changes nothing: give the home document a new revision.
        there = await self.copier.states(db, live)
        hidden = [i for i, s in there.items() if s.deleted]
        if hidden:
            tips = await self.copier.fetch(db, {i: [there[i].rev] for i in hidden}, {})
            revive = [live[t["_id"]] for t in tips if is_router_tombstone(t)]
            bodies = []
            for state in revive:
                body = {k: v for k, v in (state.body or {}).items() if k != "_conflicts"}
                if body:
                    bodies.append(body)
            if bodies:
                result = await self.couch.bulk_docs(home, bodies)
                log.info("router_revived", db=db, ids=[r.get("id") for r in result])
        return bool(written)

    async def _mirror_deletions(self, home: str, db: str, ids: list[str]) -> bool:
        """Documents the index does not know: copy the home's tombstone if it has one.

        An id the home database has never seen is left alone when a device may create it
        (it waits for fan-in); a read-only type can only be a leftover, so it is deleted.
        """
        states = await self.copier.states(home, ids)
        tombstones = {i: [s.rev] for i, s in states.items() if s.deleted}
        written = bool(await self.copier.copy(home, db, tombstones)) if tombstones else False
        unknown = [i for i in ids if i not in states and doc_type_of(i) not in FAN_IN_OWNER_FIELD]
        if unknown:
            written |= bool(await self.copier.tombstone(db, unknown))
        return written

    # -- fan-in ----------------------------------------------------------------------------

    async def _drain_rep(self, user_id: str, *, complete: bool = False) -> bool:
        """Carry what the user's devices wrote into fs_orders / fs_field; True on progress
        (``complete``: True when the feed was read to its end, False when the lease ran out)."""
        db = self._users.get(user_id)
        if db is None or not self.ownership.owns(user_id):
            return not complete
        progressed = False
        await self.settle.settle(db)  # a push still coming in is carried in once, at its end
        async with self._rep_sem, self._source_lock(db):
            if db not in self._seqs:  # first drain since this worker took the user
                self._seqs[db] = await self.checkpoints.load(db)
            while self.ownership.owns(user_id):
                try:
                    page = await self.couch.changes(
                        db, since=self._seqs.get(db, 0), limit=self.rep_page_size, style="all_docs"
                    )
                except CouchNotFound:
                    await self._drop_user(user_id)
                    return progressed
                # what devices may have written: not the router's own copies, nor documents of
                # kinds that never travel back (notifications, master data)
                rows = [
                    r
                    for r in self._without_echoes(db, page.results)
                    if doc_type_of(r["id"]) in FAN_IN_OWNER_FIELD
                ]
                if rows:
                    progressed = True
                    await self._fan_in(user_id, db, rows)
                if page.last_seq != self._seqs.get(db):
                    self._seqs[db] = page.last_seq
                    # a page with nothing to carry need not be checkpointed at once: after a
                    # restart those rows are read again and found in place
                    now = asyncio.get_running_loop().time()
                    due = rows or now - self._rep_saved_at.get(db, 0.0) >= ECHO_CHECKPOINT_S
                    if due and self.ownership.owns(user_id):
                        await self.checkpoints.save(db, page.last_seq)
                        self._rep_saved_at[db] = now
                if len(page.results) < self.rep_page_size:
                    return True if complete else progressed
        return False if complete else progressed

    def _without_echoes(self, db: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of a rep database's feed that are not just a revision the router copied."""
        copied = self._copied.get(db)
        if not copied:
            return rows
        kept = []
        for row in rows:
            mine = copied.pop(row["id"], None)
            if mine is None or [c["rev"] for c in row["changes"]] != [mine]:
                kept.append(row)
        return kept

    async def _fan_in(self, user_id: str, db: str, rows: list[dict[str, Any]]) -> None:
        by_target: dict[str, dict[str, list[str]]] = {}
        for row in rows:
            kind = doc_type_of(row["id"])
            if kind is None or kind not in FAN_IN_OWNER_FIELD:
                continue
            target = self._home(HOME_DB[kind])
            by_target.setdefault(target, {})[row["id"]] = [c["rev"] for c in row["changes"]]
        # batches of one page of rows each, side by side: a long push is carried in with its
        # round trips overlapped rather than one after another
        await asyncio.gather(
            *(
                self._fan_in_batch(user_id, db, target, dict(part))
                for target, revs in by_target.items()
                for part in chunked(list(revs.items()), self.page_size)
            )
        )

    async def _fan_in_batch(
        self, user_id: str, db: str, target: str, revs: dict[str, list[str]]
    ) -> None:
        """Carry one batch of the user's revisions into ``target`` (see ``_fan_in_refusal``)."""
        with stage("fan_in"):
            # what the target lacks, and the shared truth (the owner of each document at
            # home), read at once: one _revs_diff and one _all_docs per batch
            missing, home = await asyncio.gather(
                self.copier.missing(target, revs),
                self.copier.states(target, revs, include_docs=True),
            )
            if not missing:
                return
            docs = await self.copier.fetch(db, missing, {})
            accepted = []
            for doc in docs:
                refusal = self._fan_in_refusal(doc, user_id, target, home.get(doc["_id"]))
                if refusal is None:
                    accepted.append(doc)
                elif refusal != SKIP:
                    metrics.ROUTER_FAN_IN_REFUSED.labels(refusal).inc()
                    log.warning(
                        "security_fan_in_refused",
                        security=True,
                        reason=refusal,
                        db=db,
                        user_id=user_id,
                        doc_id=doc["_id"],
                        rev=doc["_rev"],
                        target=target,
                    )
            if not accepted:
                return
            # who pushed is recorded (one _bulk_docs per batch) before the revisions reach
            # the shared database
            await record_pushes(
                self.couch, self.dbs.ops, accepted, db=target, from_db=db, user_id=user_id
            )
            echoes = self._fanned_in.setdefault(target, {})
            if len(echoes) > MAX_FAN_IN_ECHOES:
                echoes.clear()  # a memo, not a record: losing it costs one _revs_diff each
            for doc in accepted:
                echoes[doc["_id"]] = (doc["_rev"], user_id)
            errors = await self.copier.write(target, accepted)
            if errors:
                log.warning("router_fan_in_errors", db=db, errors=errors[:5])
            self._written(target)

    def _fan_in_echo(self, source: str, doc_id: str, revs: list[str]) -> str | None:
        """The user whose push a shared feed row only echoes (the document's one leaf is the
        revision the fan-in carried from their database), else None."""
        echoes = self._fanned_in.get(source)
        if not echoes:
            return None
        carried = echoes.pop(doc_id, None)
        if carried is None or revs != [carried[0]]:
            return None
        return carried[1]

    def _fan_in_refusal(
        self, doc: Mapping[str, Any], user_id: str, target: str, home: DocState | None
    ) -> str | None:
        """Why a revision of the user's database must not reach ``target`` (None: copy it).

        The revision's owner field must be the user, and so must the owner of the document's
        current revision at home: a revision is never copied into a shared database unless
        its owner is the shared document's owner. A document deleted at home stays deleted.
        ``SKIP`` marks what is no device's doing (the router's own tombstones, deletions of
        what home never had), so it is not counted as a refusal.
        """
        kind = doc_type_of(doc["_id"])
        if kind is None or kind not in FAN_IN_OWNER_FIELD:
            return "type"
        owner_field = FAN_IN_OWNER_FIELD[kind]
        if doc.get("_deleted"):
            if is_router_tombstone(doc):
                return SKIP
            if not device_may_delete(kind):
                return "deletion"
            if home is None or home.deleted:
                return SKIP
        else:
            wanted = fan_in_target(doc, user_id)
            if wanted is None:
                return "owner"
            if self._home(wanted) != target:
                return "type"
            if home is None:
                return None
            if home.deleted:
                return "deleted"
        if home is None or home.body is None or home.body.get(owner_field) != user_id:
            return "shared_owner"
        return None

    # -- plumbing --------------------------------------------------------------------------

    def _written(self, db: str) -> None:
        if self.on_db_written is not None:
            try:
                self.on_db_written(db)
            except Exception as exc:  # a listener's bug must not stop the router
                log.warning("router_listener_failed", error=repr(exc))

    async def _emit_now(self, kind: str, payload: dict[str, Any]) -> None:
        """Deliver an event and wait for its subscriber (errors are logged, never raised)."""
        if self.on_event is None:
            return
        try:
            result = self.on_event(kind, payload)
            if asyncio.iscoroutine(result):
                await result
        except Exception as exc:  # a subscriber's bug must not stop the router
            log.warning("router_event_failed", kind=kind, error=repr(exc))

    async def _events_settled(self) -> None:
        """Wait for the events of this page, so the checkpoint never passes an unsent one."""
        while self._event_tasks:
            await asyncio.gather(*list(self._event_tasks), return_exceptions=True)

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            result = self.on_event(kind, payload)
        except Exception as exc:  # a subscriber's bug must not stop the router
            log.warning("router_event_failed", kind=kind, error=repr(exc))
            return
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._event_tasks.add(task)
            task.add_done_callback(self._event_tasks.discard)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("router_task_failed", error=repr(task.exception()))
