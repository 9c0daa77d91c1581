"""Fan-out: the shared databases' changes, copied to the field users who may see them.

One follower per shared database (:meth:`FanOut.follow`): a continuous ``_changes`` feed used
only as a wake-up, and normal ``_changes`` pages (``style=all_docs``, ``include_docs``,
``page_size`` rows) read from the checkpoint, so a back-office change reaches the rep
database within one round of requests.

Each page (:meth:`FanOut.drain`):

1. the winning revisions update the assignment index, which yields the membership delta;
2. every changed document is copied (all leaves, ``_revs_diff`` first, ``new_edits=false``;
   the page's revisions are read once, ``_bulk_get`` beside the users' ``_revs_diff``)
   to the users it targets (a deletion also to those who had it), except to the user whose
   push the row only echoes (the fan-in just carried that revision in from them:
   ``SharedFeed.echoes``). An fs_orders revision is announced (``order_changed``) before it
   is copied: a crash in between re-copies and re-notifies (the outbox dedupes), while
   notifying after could lose the notification;
3. the delta is applied by reconciling its (user, id) pairs against the index
   (``reconcile.py``), and ``assignment_gained`` / ``assignment_lost`` are emitted;
4. once every event of the page is delivered, the checkpoint is written: last.

What an interrupted page computed is kept (``SharedFeed.pending``) until it succeeds. Only the
holder of ``router-shared`` copies and checkpoints; every other worker keeps its index current
from the same pages and writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import structlog

from mobile_schema import doc_type_of

from ..couch import CouchError, CouchNotFound
from .assignments import Delta
from .context import RouterContext
from .leases import LeaseLapsed
from .reconcile import Reconciler
from .rules import ASSIGNMENT_EVENT_TYPES

log = structlog.get_logger(__name__)


class FanOut:
    def __init__(
        self, ctx: RouterContext, reconciler: Reconciler, *, heartbeat_ms: int, retry_s: float
    ) -> None:
        self.ctx = ctx
        self.reconciler = reconciler
        self.heartbeat_ms = heartbeat_ms
        self.retry_s = retry_s

    async def follow(self, source: str) -> None:
        """Drain ``source`` whenever its continuous feed shows a change, until cancelled."""
        feed = self.ctx.state.shared[source]
        while True:
            try:
                await self.drain(source)
                wake = asyncio.Event()
                watcher = asyncio.create_task(self._watch(source, feed.seq, wake))
                try:
                    while not watcher.done():
                        await wake.wait()
                        wake.clear()
                        await self.drain(source)
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
            async for _row in self.ctx.couch.changes_stream(
                source, since=since, heartbeat_ms=self.heartbeat_ms
            ):
                wake.set()
        finally:
            wake.set()

    async def drain(self, source: str) -> bool:
        """Process ``source`` from its checkpoint to its end; True when there was anything."""
        ctx = self.ctx
        feed = ctx.state.shared[source]
        progressed = False
        async with feed.lock:
            while True:
                page = await ctx.couch.changes(
                    source,
                    since=feed.seq,
                    limit=ctx.page_size,
                    style="all_docs",
                    include_docs=True,
                )
                rows = [r for r in page.results if not r["id"].startswith("_design/")]
                if not ctx.ownership.owns_shared:
                    # another worker fans out: keep the index current, copy nothing
                    feed.pending = None
                    self._index_only(rows)
                    progressed |= bool(rows)
                    feed.seq = page.last_seq
                elif rows or feed.pending is not None:
                    await self._fan_out(source, rows)
                    await ctx.emitter.settled()
                    progressed = True
                if ctx.ownership.owns_shared and page.last_seq != feed.seq:
                    feed.seq = page.last_seq
                    await ctx.checkpoints.save(source, page.last_seq)
                if len(page.results) < ctx.page_size:
                    return progressed

    def _index_only(self, rows: list[dict[str, Any]]) -> None:
        index = self.ctx.state.index
        for row in rows:
            doc = row.get("doc") or {"_id": row["id"]}
            index.apply_doc(doc, deleted=bool(row.get("deleted")))

    async def _fan_out(self, source: str, rows: list[dict[str, Any]]) -> None:
        ctx = self.ctx
        state = ctx.state
        feed = state.shared[source]
        # What an interrupted attempt at this page computed is kept until it succeeds: on a
        # retry the index already holds the change and would compute no delta again.
        if feed.pending is None:
            feed.pending = ({}, Delta(), set())
        plan, delta, deleted = feed.pending
        orders: dict[str, dict[str, Any]] = {}
        for row in rows:
            doc_id = row["id"]
            is_deleted = bool(row.get("deleted"))
            doc = row.get("doc") or {"_id": doc_id}
            before = state.index.targets(doc_id)
            revs = [c["rev"] for c in row["changes"]]
            pusher = feed.take_echo(doc_id, revs)
            change = state.index.apply_doc(doc, deleted=is_deleted)
            if pusher is not None and doc_type_of(doc_id) not in ASSIGNMENT_EVENT_TYPES:
                # the pusher's database holds the document: its one leaf came from there
                change.gained.get(pusher, set()).discard(doc_id)
                if not change.gained.get(pusher, True):
                    del change.gained[pusher]
            delta.merge(change)
            after = state.index.targets(doc_id)
            if is_deleted:
                deleted.add(doc_id)
            else:
                deleted.discard(doc_id)
            everyone = after.everyone or (is_deleted and before.everyone)
            users = set(state.reps) if everyone else set(after.users)
            if is_deleted:
                users |= before.users
            for user_id in users & state.reps.keys():
                if user_id != pusher:
                    plan.setdefault(user_id, {})[doc_id] = revs
            if source == ctx.dbs.orders and not is_deleted:
                orders[doc_id] = doc
        # the page's revisions are read once for every user, beside the users' _revs_diff
        # (what a user turns out to have is not copied; a failed read is retried per user)
        cache: dict[tuple[str, str], Any] = {}
        every = {i: r for revs in plan.values() for i, r in revs.items()}
        read = asyncio.ensure_future(ctx.copier.fetch(source, every, cache)) if every else None
        try:
            await asyncio.gather(
                *(
                    self._copy_to(u, source, revs, deleted, cache, orders, read)
                    for u, revs in plan.items()
                )
            )
        finally:
            if read is not None and not read.done():
                read.cancel()
            if read is not None:
                with contextlib.suppress(asyncio.CancelledError, CouchError):
                    await read
        await self._apply_delta(delta)
        feed.pending = None

    async def _copy_to(
        self,
        user_id: str,
        source: str,
        revs: Mapping[str, list[str]],
        deleted: set[str],
        cache: dict[tuple[str, str], Any],
        orders: Mapping[str, dict[str, Any]],
        read: asyncio.Future[Any] | None = None,
    ) -> None:
        ctx = self.ctx
        rep = ctx.state.rep(user_id)
        if rep is None:
            return
        db = rep.db

        def allowed(doc_id: str) -> bool:
            return doc_id in deleted or ctx.state.index.targets(doc_id).includes(user_id)

        async with ctx.copy_slots, rep.write_lock:
            if not ctx.ownership.owns_shared:
                # the page stays pending, unsaved: retried once the lease is renewed
                raise LeaseLapsed("router-shared")
            wanted = {i: r for i, r in revs.items() if allowed(i)}
            try:
                missing = await ctx.copier.missing(db, wanted)
                if not missing:
                    return
                if read is not None:
                    with contextlib.suppress(CouchError):
                        await asyncio.shield(read)  # the page's read: fills ``cache``
                docs = await ctx.copier.fetch(source, missing, cache)
                docs = [d for d in docs if allowed(d["_id"])]
                # notify before the copy: a crash in between re-copies and re-notifies (the
                # outbox dedupes), while notifying after could lose the notification
                for doc_id in sorted({d["_id"] for d in docs} & orders.keys()):
                    await ctx.emitter.emit_now(
                        "order_changed", {"user_id": user_id, "doc": orders[doc_id]}
                    )
                if ctx.ownership.owns(user_id):  # only the fan-in's owner reads the echoes
                    # before the write: its row in the database's feed may come before the
                    # answer, and must be known for the router's own (discovery passes it by)
                    for doc in docs:
                        rep.copied[doc["_id"]] = doc["_rev"]
                errors = await ctx.copier.write(db, docs)
            except CouchNotFound:
                await ctx.drop_user(user_id)
                return
        if errors:
            log.warning("router_copy_errors", db=db, errors=errors[:5], count=len(errors))
        ctx.emitter.written(db)

    async def _apply_delta(self, delta: Delta) -> None:
        if not delta:
            return
        await asyncio.gather(*(self.reconciler.ids(u, ids) for u, ids in delta.by_user().items()))
        for kind, part in (("assignment_gained", delta.gained), ("assignment_lost", delta.lost)):
            for user_id, ids in sorted(part.items()):
                shown = sorted(i for i in ids if doc_type_of(i) in ASSIGNMENT_EVENT_TYPES)
                if shown:
                    self.ctx.emitter.emit(kind, {"user_id": user_id, "doc_ids": shown})
