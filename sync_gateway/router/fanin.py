"""Fan-in: what a field user's devices wrote, carried from their database into the shared ones.

A drain of one rep database (``rep_page_size`` rows of its feed at a time, from its checkpoint):

1. let a device's push in this process settle (``settle.py``: quiet for 0.25 s, at most 5 s),
   so a phone's batches are carried in together, after the push rather than in front of its
   next batch;
2. skip the rows that are only the router's own copy of a revision (``RepDb.copied``) and the
   types that never travel back (notifications, master data);
3. per batch of ``page_size`` documents, batches side by side: ``_all_docs`` of the target
   (the owner at home) and ``_bulk_get`` of the revisions from the rep database at once, then
   ``_revs_diff`` only for the documents home has (what it lacks; one it never saw lacks
   everything), the push records in one
   ``_bulk_docs`` (provenance.py: the rep database's owner pushed it), the copy. Each carried
   revision is remembered in the target's echo memo, so the fan-out skips the pusher's own
   database for it (it has that revision);
4. checkpoint the page; a page with nothing to carry is checkpointed at most every
   ``ECHO_CHECKPOINT_S`` (after a restart those rows are read again and found in place).

Ownership is checked again (defence in depth for writes the gateway never saw, e.g. straight
into a rep database), by :func:`fan_in_refusal`: a revision is copied into a shared database
only when its owner field is the rep database's user AND the document's current revision at
home has that owner; a document deleted at home stays deleted, and only the types
``mobile_schema.DEVICE_DELETABLE_TYPES`` may be deleted from a device. Refusals are counted
(``fieldsync_router_fan_in_refused_total{reason}``) and logged as ``security_fan_in_refused``;
the rest of the batch is copied. Only the worker owning the user's bucket drains it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Final

import structlog

from mobile_schema import doc_type_of

from .. import metrics
from ..couch import CouchNotFound, chunked
from ..provenance import record_pushes
from ..work import stage
from .context import RouterContext
from .copier import DocState, is_router_tombstone
from .rules import FAN_IN_OWNER_FIELD, HOME_DB, SharedDb, device_may_delete, fan_in_target
from .settle import PushSettle

log = structlog.get_logger(__name__)

ECHO_CHECKPOINT_S: Final = 60.0  # a page of nothing to carry: a checkpoint at most this often
SKIP: Final = "skip"  # a fan-in refusal that is nobody's attack (see fan_in_refusal)


class FanIn:
    def __init__(
        self,
        ctx: RouterContext,
        *,
        settle: PushSettle,
        rep_page_size: int,
        concurrency: int,
    ) -> None:
        self.ctx = ctx
        self.settle = settle
        self.rep_page_size = rep_page_size  # rows of a rep database's feed carried in at once
        self._slots = asyncio.Semaphore(concurrency)  # rep databases drained at once

    async def drain(self, user_id: str, *, complete: bool = False) -> bool:
        """Carry what the user's devices wrote into fs_orders / fs_field; True on progress
        (``complete``: True when the feed was read to its end, False when the lease ran out)."""
        ctx = self.ctx
        rep = ctx.state.rep(user_id)
        if rep is None or not ctx.ownership.owns(user_id):
            return not complete
        db = rep.db
        progressed = False
        await self.settle.settle(db)  # a push still coming in is carried in once, at its end
        async with self._slots, rep.drain_lock:
            if not rep.loaded:  # first drain since this worker took the user
                seq = await ctx.checkpoints.load(db)
                rep.resume(seq, asyncio.get_running_loop().time())
            while ctx.ownership.owns(user_id):
                try:
                    page = await ctx.couch.changes(
                        db, since=rep.seq, limit=self.rep_page_size, style="all_docs"
                    )
                except CouchNotFound:
                    await ctx.drop_user(user_id)
                    return progressed
                # what devices may have written: not the router's own copies, nor documents of
                # kinds that never travel back (notifications, master data)
                rows = [
                    r
                    for r in rep.without_echoes(page.results)
                    if doc_type_of(r["id"]) in FAN_IN_OWNER_FIELD
                ]
                if rows:
                    progressed = True
                    await self._fan_in(user_id, db, rows)
                if page.last_seq != rep.seq:
                    rep.seq = page.last_seq
                    # a page with nothing to carry need not be checkpointed at once: after a
                    # restart those rows are read again and found in place
                    now = asyncio.get_running_loop().time()
                    due = rows or now - rep.saved_at >= ECHO_CHECKPOINT_S
                    if due and ctx.ownership.owns(user_id):
                        await ctx.checkpoints.save(db, page.last_seq)
                        rep.saved_at = now
                if len(page.results) < self.rep_page_size:
                    return True if complete else progressed
        return False if complete else progressed

    async def _fan_in(self, user_id: str, db: str, rows: list[dict[str, Any]]) -> None:
        by_target: dict[str, dict[str, list[str]]] = {}
        for row in rows:
            kind = doc_type_of(row["id"])
            if kind is None or kind not in FAN_IN_OWNER_FIELD:
                continue
            target = self.ctx.home(HOME_DB[kind])
            by_target.setdefault(target, {})[row["id"]] = [c["rev"] for c in row["changes"]]
        # batches of one page of rows each, side by side: a long push is carried in with its
        # round trips overlapped rather than one after another
        await asyncio.gather(
            *(
                self._fan_in_batch(user_id, db, target, dict(part))
                for target, revs in by_target.items()
                for part in chunked(list(revs.items()), self.ctx.page_size)
            )
        )

    async def _fan_in_batch(
        self, user_id: str, db: str, target: str, revs: dict[str, list[str]]
    ) -> None:
        """Carry one batch of the user's revisions into ``target`` (see :func:`fan_in_refusal`)."""
        ctx = self.ctx
        with stage("fan_in"):
            # at once: the shared truth (the owner of each document at home) and the pushed
            # revisions themselves (usually all to be carried: reading them beside the truth
            # saves a round trip; what the target turns out to have is dropped)
            home, pushed = await asyncio.gather(
                ctx.copier.states(target, revs, include_docs=True),
                ctx.copier.fetch(db, revs, {}),
            )
            # what the target lacks: known from the truth for documents home never saw (a new
            # order costs no _revs_diff), asked with _revs_diff for the others
            missing = await ctx.copier.missing_given(target, revs, home)
            docs = [d for d in pushed if d["_rev"] in missing.get(d["_id"], ())]
            if not docs:
                return
            accepted = []
            for doc in docs:
                refusal = fan_in_refusal(doc, user_id, target, home.get(doc["_id"]), ctx.home)
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
                ctx.couch, ctx.dbs.ops, accepted, db=target, from_db=db, user_id=user_id
            )
            shared = ctx.state.shared[target]
            for doc in accepted:
                shared.remember_echo(doc["_id"], doc["_rev"], user_id)
            errors = await ctx.copier.write(target, accepted)
            if errors:
                log.warning("router_fan_in_errors", db=db, errors=errors[:5])
            ctx.emitter.written(target)


def fan_in_refusal(
    doc: Mapping[str, Any],
    user_id: str,
    target: str,
    home: DocState | None,
    home_db: Callable[[SharedDb], str],
) -> str | None:
    """Why a revision of the user's database must not reach ``target`` (None: copy it).

    The revision's owner field must be the user, and so must the owner of the document's
    current revision at home: a revision is never copied into a shared database unless
    its owner is the shared document's owner. A document deleted at home stays deleted.
    ``SKIP`` marks what is no device's doing (the router's own tombstones, deletions of
    what home never had), so it is not counted as a refusal. ``home_db`` names a shared db.
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
        if home_db(wanted) != target:
            return "type"
        if home is None:
            return None
        if home.deleted:
            return "deleted"
    if home is None or home.body is None or home.body.get(owner_field) != user_id:
        return "shared_owner"
    return None
