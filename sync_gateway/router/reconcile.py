"""Reconciliation: a user's database made to hold what the assignment index says, and no more.

For each (user, document id) asked about, decided under the user's write lock against the
index of that moment (so a copy and a tombstone of one document cannot overtake each other):

    the index knows the id, the user is a target   copy it whole from its home database
                                                   (every leaf, ``_revs_diff`` first)
    the index knows the id, the user is not        a router tombstone in their database only;
                                                   orders stay (the rep's own history)
    the index does not know the id                 the home's tombstone is copied if it has
                                                   one; an id home never saw is left alone when
                                                   a device may create it (fan-in brings it),
                                                   deleted when it is of a read-only type

:meth:`Reconciler.user` does it for a whole database (its live ids against the index's
members: one read of its ids), as a start and taking ``router-shared`` over do; the fan-out
calls :meth:`Reconciler.ids` with the (user, ids) pairs of a page's membership delta. Only
the holder of ``router-shared`` reconciles (``LeaseLapsed`` otherwise).

Re-gaining a document whose router tombstone sits on top of the source's current revision needs
a new revision (a copy of a revision the database already has changes nothing): the router then
writes the same body again as a child of the source's winner in the home database, and the
follower carries that revision everywhere (``router_revived``).
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from mobile_schema import doc_type_of

from ..couch import CouchNotFound
from .context import RouterContext
from .copier import is_router_tombstone
from .leases import LeaseLapsed
from .rules import FAN_IN_OWNER_FIELD, HOME_DB

log = structlog.get_logger(__name__)


class Reconciler:
    def __init__(self, ctx: RouterContext) -> None:
        self.ctx = ctx

    async def user(self, user_id: str) -> None:
        """Make the user's database hold exactly what the index says (orders excepted)."""
        ctx = self.ctx
        rep = ctx.state.rep(user_id)
        if rep is None or not ctx.ownership.owns_shared:
            return
        desired = ctx.state.index.members(user_id)
        present: set[str] = set()
        try:
            async for ids in ctx.copier.live_ids(rep.db):
                present.update(ids)
        except CouchNotFound:
            await ctx.drop_user(user_id)
            return
        extra = {i for i in present - desired if doc_type_of(i) in HOME_DB}
        todo = sorted((desired - present) | extra)
        for start in range(0, len(todo), ctx.page_size):
            await self.ids(user_id, todo[start : start + ctx.page_size])

    async def ids(self, user_id: str, ids: Iterable[str]) -> None:
        """Bring each of ``ids`` in the user's database in line with the index, now."""
        ctx = self.ctx
        rep = ctx.state.rep(user_id)
        if rep is None:
            return
        db = rep.db
        async with ctx.copy_slots, rep.write_lock:
            if not ctx.ownership.owns_shared:
                raise LeaseLapsed("router-shared")
            index = ctx.state.index
            keep: dict[str, list[str]] = {}
            drop: list[str] = []
            mirror: dict[str, list[str]] = {}
            for doc_id in ids:
                kind = doc_type_of(doc_id)
                if kind is None or kind not in HOME_DB:
                    continue
                if not index.known(doc_id):
                    mirror.setdefault(ctx.home(HOME_DB[kind]), []).append(doc_id)
                elif index.targets(doc_id).includes(user_id):
                    keep.setdefault(ctx.home(HOME_DB[kind]), []).append(doc_id)
                elif kind != "order":
                    drop.append(doc_id)
            try:
                wrote = False
                if drop:
                    wrote |= bool(await ctx.copier.tombstone(db, drop))
                for home, home_ids in mirror.items():
                    wrote |= await self._mirror_deletions(home, db, home_ids)
                for home, home_ids in keep.items():
                    wrote |= await self._give(home, db, home_ids)
            except CouchNotFound:
                await ctx.drop_user(user_id)
                return
        if wrote:
            ctx.emitter.written(db)

    async def _give(self, home: str, db: str, ids: list[str]) -> bool:
        """Copy ``ids`` whole (every leaf) from their home database into ``db``."""
        copier = self.ctx.copier
        states = await copier.states(home, ids, include_docs=True)
        live = {i: s for i, s in states.items() if not s.deleted}
        written = await copier.copy(home, db, {i: s.leaves for i, s in live.items()})
        # A router tombstone on top of the home's winner hides it, and copying a revision the
        # database already has changes nothing: give the home document a new revision.
        there = await copier.states(db, live)
        hidden = [i for i, s in there.items() if s.deleted]
        if hidden:
            tips = await copier.fetch(db, {i: [there[i].rev] for i in hidden}, {})
            revive = [live[t["_id"]] for t in tips if is_router_tombstone(t)]
            bodies = []
            for state in revive:
                body = {k: v for k, v in (state.body or {}).items() if k != "_conflicts"}
                if body:
                    bodies.append(body)
            if bodies:
                result = await self.ctx.couch.bulk_docs(home, bodies)
                log.info("router_revived", db=db, ids=[r.get("id") for r in result])
        return bool(written)

    async def _mirror_deletions(self, home: str, db: str, ids: list[str]) -> bool:
        """Documents the index does not know: copy the home's tombstone if it has one.

        An id the home database has never seen is left alone when a device may create it
        (it waits for fan-in); a read-only type can only be a leftover, so it is deleted.
        """
        copier = self.ctx.copier
        states = await copier.states(home, ids)
        tombstones = {i: [s.rev] for i, s in states.items() if s.deleted}
        written = bool(await copier.copy(home, db, tombstones)) if tombstones else False
        unknown = [i for i in ids if i not in states and doc_type_of(i) not in FAN_IN_OWNER_FIELD]
        if unknown:
            written |= bool(await copier.tombstone(db, unknown))
        return written
