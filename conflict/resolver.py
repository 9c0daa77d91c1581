"""The resolver: finds conflicted documents, writes their merge, records what lost.

It works on a store passed in (:class:`ResolverStore`, the CouchDB one is
``sync_gateway.conflict_store.CouchConflictStore``), so this package needs nothing from the
gateway. For one document (:meth:`Resolver.resolve`):

1. read every leaf (``open_revs=all&revs=true``); fewer than two live leaves: nothing to do
   (a document whose losing leaves are our tombstones is resolved);
2. the base to merge against (:func:`conflict.ancestry.merge_base`: the common ancestor of the
   live leaves' histories, seeing through branches an earlier merge absorbed), and its body
   when the store still has it (``None`` once compacted, or when the histories share nothing;
   a shared database the fan-in only sent later revisions reads it from where they came from);
3. :func:`conflict.fallback.safe_plan`: the merge, validated; a leaf that cannot be merged
   (implausible revision, invalid body, a merge that fails or does not validate) is recorded
   and closed and the shared winner kept, so no conflict makes the resolver fail for ever;
   attachments the winner does not hold are fetched from the leaf that has them and sent
   inline;
4. the conflict_record in the ops db (:mod:`conflict.records`; 409 = already written), then
   a notification in the rep db of each user whose change was overridden, then
   ``on_resolved(record)`` (sync or async; errors logged), then the plan's documents in ONE
   ``_bulk_docs`` with ``new_edits: false``.

Everything that tells about the merge goes before it, so a crash between the steps can only
leave a record, notifications and an ``on_resolved`` call for a merge that the next pass
writes (same leaves, same revision, same ids), never a merge without a record or one nobody
was told about. Every id is derived from the leaves, so two resolvers working at once write
the same revisions and documents (CouchDB keeps one copy) and running again changes nothing.
For the same reason ``on_resolved`` is called by every pass that goes on to write a merge,
not only the one that created the record: after a crash, or with two resolvers at once, it
sees the same record more than once and must be idempotent by the record's ``_id`` (the
notification outbox is: its entry id comes from the record id).

Finding work (:meth:`Resolver.run`): per database a longpoll ``_changes`` loop with
``style=all_docs&conflicts=true&include_docs=true`` from the checkpoint
(``_local/resolver-checkpoint:<db>`` in the ops db, saved after each page); a row whose
winner lists ``_conflicts`` is resolved. A document that failed (or whose feed row was
passed while another resolver held it) is caught by the sweep (:meth:`Resolver.sweep`, the
whole feed from 0, every ``sweep_interval_s``; ``fieldsync resolve --once`` runs one).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from conflict.ancestry import merge_base
from conflict.errors import ConflictError
from conflict.fallback import safe_plan
from conflict.leaf import Leaf
from conflict.plan import ResolutionPlan
from conflict.records import conflict_record, overridden_notification
from conflict.store import ConflictStore
from mobile_schema import utc_now

log = structlog.get_logger(__name__)

OnResolved = Callable[[dict[str, Any]], Any]


class ResolveFailed(ConflictError):
    """CouchDB refused a document of the plan (the conflict stays; the sweep retries)."""


class ResolverStore(ConflictStore, Protocol):
    """What the resolver needs beyond :class:`conflict.store.ConflictStore`."""

    async def conflict_changes(
        self, db: str, since: Any, limit: int, *, wait_s: float | None = None
    ) -> tuple[list[dict[str, Any]], Any]:
        """One page of ``_changes`` (``style=all_docs``, ``conflicts=true``, ``include_docs``)
        after ``since``: ``(rows, last_seq)``. With ``wait_s`` a longpoll that waits up to that
        long when there is nothing yet."""
        ...

    async def load_checkpoint(self, db: str) -> Any:
        """Where the resolver stopped reading ``db`` (0 when never)."""
        ...

    async def save_checkpoint(self, db: str, seq: Any) -> None: ...

    async def put_record(self, record: Mapping[str, Any]) -> bool:
        """Create the conflict_record in the ops db; False when it already exists."""
        ...

    async def put_notification(self, user_id: str, doc: Mapping[str, Any]) -> bool:
        """Create ``doc`` in the user's rep db; False when it exists or the user has none."""
        ...


@dataclass(frozen=True)
class Resolution:
    """What :meth:`Resolver.resolve` did for one document."""

    db: str
    doc_id: str
    merged_rev: str
    tombstone_revs: tuple[str, ...]
    record: dict[str, Any]
    record_created: bool
    notified: tuple[str, ...]


def is_conflicted(row: Mapping[str, Any]) -> bool:
    """Whether a ``_changes`` row names a document with two or more live leaves."""
    if str(row.get("id", "")).startswith("_"):
        return False  # design documents are not merged
    doc = row.get("doc")
    if isinstance(doc, Mapping):
        return bool(doc.get("_conflicts"))
    changes = row.get("changes")
    return isinstance(changes, list) and len(changes) > 1


class Resolver:
    """Resolves the conflicts of ``dbs`` (fs_orders, fs_field); see the module docstring."""

    def __init__(
        self,
        store: ResolverStore,
        dbs: Sequence[str],
        *,
        on_resolved: OnResolved | None = None,
        page_size: int = 200,
        concurrency: int = 8,
        wait_s: float = 30.0,
        sweep_interval_s: float = 300.0,
        retry_s: float = 1.0,
        checkpoint_every_s: float = 5.0,
        pace_s: float = 0.25,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.store = store
        self.checkpoint_every_s = checkpoint_every_s
        self.pace_s = pace_s
        self.dbs = tuple(dbs)
        self.on_resolved = on_resolved
        self.page_size = page_size
        self.wait_s = wait_s
        self.sweep_interval_s = sweep_interval_s
        self.retry_s = retry_s
        self.clock = clock
        self._sem = asyncio.Semaphore(concurrency)
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._tasks: list[asyncio.Task[None]] = []

    # -- one document ----------------------------------------------------------------------

    async def resolve(self, db: str, doc_id: str) -> Resolution | None:
        """Merge the live leaves of one document; None when it has fewer than two."""
        key = (db, doc_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock, self._sem:
            return await self._resolve(db, doc_id)

    async def _resolve(self, db: str, doc_id: str) -> Resolution | None:
        leaves = [Leaf.from_doc(body) for body in await self.store.get_leaves(db, doc_id)]
        live = [leaf for leaf in leaves if not leaf.deleted]
        if len(live) < 2:
            return None
        ancestor_rev = merge_base(leaves)
        ancestor = None
        if ancestor_rev is not None:
            live_revs = [leaf.rev for leaf in live]
            ancestor = await self.store.get_ancestor(db, doc_id, ancestor_rev, live_revs)
        plan = safe_plan(leaves, ancestor)
        if plan.merged_rev is None:
            return None
        now = self.clock()
        record = conflict_record(doc_id, [leaf.rev for leaf in leaves], plan, now)
        created = await self.store.put_record(record)
        notified = []
        for user_id in record["user_ids"]:
            note = overridden_notification(record, user_id, plan.result.overridden, now)
            if await self.store.put_notification(user_id, note):
                notified.append(user_id)
        if self.on_resolved is not None:
            await self._call_on_resolved(record)
        docs = await self._with_attachment_data(db, doc_id, plan)
        answers = await self.store.bulk_docs_new_edits_false(db, docs)
        refused = [a for a in answers if a.get("error")]
        if refused:
            raise ResolveFailed(f"{db}/{doc_id}: CouchDB refused the merge: {refused}")
        resolution = Resolution(
            db, doc_id, plan.merged_rev, plan.tombstone_revs, record, created, tuple(notified)
        )
        log.info(
            "conflict_resolved",
            db=db,
            doc_id=doc_id,
            merged_rev=plan.merged_rev,
            leaves=len(leaves),
            strategy=record["strategy"],
            overridden=len(record["overridden"]),
            first=created,
        )
        return resolution

    async def _with_attachment_data(
        self, db: str, doc_id: str, plan: ResolutionPlan
    ) -> list[dict[str, Any]]:
        """The plan's documents with every attachment the winner lacks sent inline."""
        docs = list(plan.docs)
        if not plan.attachment_sources:
            return docs
        merged = dict(docs[0])
        atts = dict(merged["_attachments"])
        for source in plan.attachment_sources:
            data = await self.store.get_attachment(
                db, doc_id, source.source_name, source.source_rev
            )
            stub = atts[source.name]
            atts[source.name] = {
                "content_type": stub.get("content_type", "application/octet-stream"),
                "data": base64.b64encode(data).decode("ascii"),
            }
        merged["_attachments"] = atts
        docs[0] = merged
        return docs

    async def _call_on_resolved(self, record: dict[str, Any]) -> None:
        assert self.on_resolved is not None
        try:
            result = self.on_resolved(record)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_resolved_failed", record_id=record.get("_id"))

    # -- many documents --------------------------------------------------------------------

    async def _resolve_rows(self, db: str, rows: Sequence[Mapping[str, Any]]) -> list[Resolution]:
        ids = sorted({str(row["id"]) for row in rows if is_conflicted(row)})
        results = await asyncio.gather(
            *(self.resolve(db, doc_id) for doc_id in ids), return_exceptions=True
        )
        done: list[Resolution] = []
        for doc_id, result in zip(ids, results, strict=True):
            if isinstance(result, Resolution):
                done.append(result)
            elif isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.error("conflict_resolve_failed", db=db, doc_id=doc_id, error=repr(result))
        return done

    async def drain(self, db: str) -> list[Resolution]:
        """Resolve what the feed of ``db`` shows from its checkpoint to its end."""
        since = await self.store.load_checkpoint(db)
        done: list[Resolution] = []
        while True:
            rows, last_seq = await self.store.conflict_changes(db, since, self.page_size)
            done += await self._resolve_rows(db, rows)
            if last_seq != since:
                await self.store.save_checkpoint(db, last_seq)
            if len(rows) < self.page_size or last_seq == since:
                return done
            since = last_seq

    async def run_once(self) -> list[Resolution]:
        """Drain every database from its checkpoint."""
        done: list[Resolution] = []
        for db in self.dbs:
            done += await self.drain(db)
        return done

    async def sweep(self) -> list[Resolution]:
        """Read every database's whole feed (no checkpoint) and resolve each conflict found."""
        done: list[Resolution] = []
        for db in self.dbs:
            since: Any = 0
            while True:
                rows, last_seq = await self.store.conflict_changes(db, since, self.page_size)
                done += await self._resolve_rows(db, rows)
                if len(rows) < self.page_size or last_seq == since:
                    break
                since = last_seq
        return done

    # -- worker ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow every database and sweep periodically until cancelled or :meth:`stop`."""
        self._tasks = [
            *(asyncio.create_task(self._follow(db), name=f"resolver-{db}") for db in self.dbs),
            asyncio.create_task(self._sweep_loop(), name="resolver-sweep"),
        ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, db: str) -> None:
        since: Any = None
        saved: Any = None
        saved_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if since is None:
                    since = saved = await self.store.load_checkpoint(db)
                rows, last_seq = await self.store.conflict_changes(
                    db, since, self.page_size, wait_s=self.wait_s
                )
                await self._resolve_rows(db, rows)
                since = last_seq
                # A checkpoint after a page that had conflicts, a full page, or every few
                # seconds: a busy database (every order confirmed, one by one) would otherwise
                # cost a checkpoint write per change. A restart re-reads at most those seconds,
                # which is harmless: resolving is idempotent.
                worked = len(rows) >= self.page_size or any(
                    (row.get("doc") or {}).get("_conflicts") for row in rows
                )
                due = loop.time() - saved_at >= self.checkpoint_every_s
                if since != saved and (worked or due):
                    await self.store.save_checkpoint(db, since)
                    saved, saved_at = since, loop.time()
                if rows and not worked:
                    # a busy feed without conflicts (orders confirmed one by one): read it in
                    # batches a moment apart rather than one longpoll per change
                    await asyncio.sleep(self.pace_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store's errors are its own; retry them all
                log.warning("resolver_feed_failed", db=db, error=repr(exc))
                await asyncio.sleep(self.retry_s)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a sweep that failed is simply tried again next time
                log.warning("resolver_sweep_failed", error=repr(exc))
