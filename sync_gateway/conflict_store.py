"""The CouchDB side of the resolver: :class:`CouchConflictStore` implements
:class:`conflict.resolver.ResolverStore` (and so :class:`conflict.store.ConflictStore`) over
:class:`sync_gateway.couch.CouchClient`, and lists conflict records for the API.

Where things live::

    <db>/<doc id>?open_revs=all&revs=true      the leaves (``ok`` entries)
    <db>/<doc id>?rev=<rev>                    the ancestor (404 once compacted -> None), else
    <from_db>/<doc id>?rev=<rev>               from the one rep database every live leaf was
                                               pushed from (fs_ops/push:<doc id>:<leaf rev>)
    fs_ops/_local/resolver-checkpoint:<db>     {"db", "seq", "updated_at"}
    fs_ops/conflict_record:<...>               the records (409 on create = already there),
                                               each with "pushed_by": {leaf rev: user | null},
                                               read from fs_ops/push:<doc id>:<rev>
    rep_<user>/notification:conflict:<...>     the notifications (missing rep db -> skipped)
    fs_ops/_design/conflict_records            views for GET /api/v1/conflicts:
        all      key [updated_at, _id]
        by_user  key [user_id, updated_at, _id]   one row per user in user_ids
        by_type  key [doc_type, updated_at, _id]

Listing reads a view descending from the cursor (``before``: the ``updated_at`` and ``_id``
of the last record of the previous page, exclusive) down to ``since`` (inclusive); with both
a user and a type it reads ``by_user`` and keeps the type's records, page by page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from .couch import CouchClient, CouchConflict, CouchNotFound, doc_path
from .couch.blocks import CheckpointStore, ensure_design
from .couch.errors import error_for_status
from .databases import Databases
from .provenance import push_id, pushers

CHECKPOINT_PREFIX = "resolver-checkpoint:"
DESIGN_ID = "_design/conflict_records"
DESIGN_VERSION = 1
_VIEWS = {
    "all": (
        "function (doc) { if (doc.type === 'conflict_record') "
        "{ emit([doc.updated_at, doc._id], null); } }"
    ),
    "by_user": (
        "function (doc) { if (doc.type === 'conflict_record' && doc.user_ids) "
        "{ doc.user_ids.forEach(function (u) { emit([u, doc.updated_at, doc._id], null); }); } }"
    ),
    "by_type": (
        "function (doc) { if (doc.type === 'conflict_record') "
        "{ emit([doc.doc_type, doc.updated_at, doc._id], null); } }"
    ),
}


class CouchConflictStore:
    """The resolver's storage in CouchDB; see the module docstring."""

    def __init__(self, couch: CouchClient, dbs: Databases) -> None:
        self.couch = couch
        self.dbs = dbs
        self._checkpoints = CheckpointStore(
            couch, dbs.ops, prefix=CHECKPOINT_PREFIX, name_field="db"
        )
        self._design_ready = False
        self._design_lock = asyncio.Lock()

    # -- ConflictStore ---------------------------------------------------------------------

    async def get_leaves(self, db: str, doc_id: str) -> list[dict[str, Any]]:
        try:
            rows = await self.couch.open_revs(db, doc_id, "all", history=True)
        except CouchNotFound:
            return []
        return [row["ok"] for row in rows if isinstance(row.get("ok"), dict)]

    async def get_ancestor(
        self, db: str, doc_id: str, rev: str, leaf_revs: Sequence[str]
    ) -> dict[str, Any] | None:
        """The ancestor's body from ``db``, else from the rep database the leaves came from.

        The router carries in leaves, as replication does: a rep who saved an order twice
        before the fan-in ran (offline edits pushed at once, a router that was down) leaves
        fs_orders with the second revision only, its parent's body in the rep's database. A
        conflict on it must still merge against that parent, or every field looks changed on
        both sides. The body is taken from a rep database only when every live leaf was
        pushed from it: then the parent is that user's own history, screened by the gateway
        when pushed, and nobody else's branch is judged against it.
        """
        doc = await self._rev_body(db, doc_id, rev)
        if doc is not None or db not in (self.dbs.orders, self.dbs.field):
            return doc
        records = await self.couch.all_docs(
            self.dbs.ops,
            keys=[push_id(doc_id, r) for r in sorted(set(leaf_revs))],
            include_docs=True,
        )
        sources = {
            row["doc"].get("from_db") if isinstance(row.get("doc"), Mapping) else None
            for row in records.get("rows", [])
        }
        if len(sources) != 1 or not isinstance(source := sources.pop(), str):
            return None
        return await self._rev_body(source, doc_id, rev)

    async def _rev_body(self, db: str, doc_id: str, rev: str) -> dict[str, Any] | None:
        try:
            doc = await self.couch.get_or_none(db, doc_id, rev=rev)
        except CouchNotFound:
            return None
        # A revision whose body is gone may come back as a bodiless stub on some servers.
        if doc is None or doc.get("_rev") != rev:
            return None
        return doc

    async def get_attachment(self, db: str, doc_id: str, name: str, rev: str) -> bytes:
        path = f"{doc_path(db, doc_id)}/{quote(name, safe='')}"
        resp = await self.couch.open("GET", path, params={"rev": rev})
        body = await resp.read()
        if resp.status_code >= 400:
            reason = body[:200].decode("utf-8", "replace")
            raise error_for_status(resp.status_code, "attachment", reason, path)
        return body

    async def bulk_docs_new_edits_false(
        self, db: str, docs: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return await self.couch.bulk_docs(db, docs, new_edits=False)

    # -- ResolverStore ---------------------------------------------------------------------

    async def conflict_changes(
        self, db: str, since: Any, limit: int, *, wait_s: float | None = None
    ) -> tuple[list[dict[str, Any]], Any]:
        params: dict[str, Any] = {"style": "all_docs", "conflicts": True, "include_docs": True}
        if wait_s is not None:
            params["timeout"] = int(wait_s * 1000)
        page = await self.couch.changes(
            db,
            since=since,
            limit=limit,
            feed="longpoll" if wait_s is not None else "normal",
            **params,
        )
        return page.results, page.last_seq

    async def load_checkpoint(self, db: str) -> Any:
        return await self._checkpoints.load(db)

    async def save_checkpoint(self, db: str, seq: Any) -> None:
        # a 409 (another resolver moved it) writes ours over it: see couch/blocks.py
        await self._checkpoints.save(db, seq)

    async def put_record(self, record: Mapping[str, Any]) -> bool:
        # who pushed each leaf, from the router's push records (provenance.py): the server's
        # word, next to whatever the leaves' updated_by claim
        pushed = await pushers(self.couch, self.dbs.ops, record["doc_id"], record["leaves"])
        return await self._create(self.dbs.ops, {**record, "pushed_by": pushed})

    async def put_notification(self, user_id: str, doc: Mapping[str, Any]) -> bool:
        try:
            db = self.dbs.rep(user_id)
        except ValueError:
            return False
        try:
            return await self._create(db, doc)
        except CouchNotFound:
            return False  # not a field user (e.g. the back office): no database to write to

    async def _create(self, db: str, doc: Mapping[str, Any]) -> bool:
        try:
            await self.couch.put(db, doc)
        except CouchConflict:
            return False
        return True

    # -- listing ---------------------------------------------------------------------------

    async def ensure_design(self) -> None:
        """Create or update the views of the conflict records (once per store)."""
        if self._design_ready:
            return
        async with self._design_lock:
            if not self._design_ready:
                await ensure_design(
                    self.couch, self.dbs.ops, DESIGN_ID, _VIEWS, version=DESIGN_VERSION
                )
                self._design_ready = True

    async def list_records(
        self,
        *,
        user_id: str | None = None,
        doc_type: str | None = None,
        since: str | None = None,
        before: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Conflict records newest first (see the module docstring for the filters)."""
        await self.ensure_design()
        if user_id is not None:
            view, prefix = "by_user", [user_id]
        elif doc_type is not None:
            view, prefix = "by_type", [doc_type]
        else:
            view, prefix = "all", []
        start = [*prefix, *before] if before else [*prefix, {}]
        end = [*prefix, since] if since else prefix
        out: list[dict[str, Any]] = []
        skip = 1 if before else 0
        while len(out) < limit:
            batch = max(limit - len(out), 20)
            params: dict[str, Any] = {
                "descending": True,
                "include_docs": True,
                "startkey": start,
                "endkey": end,
                "limit": batch,
                "skip": skip,
            }
            rows = await self.couch.view(self.dbs.ops, DESIGN_ID, view, **params)
            for row in rows:
                doc = row.get("doc")
                if not isinstance(doc, dict):
                    continue
                if doc_type is not None and doc.get("doc_type") != doc_type:
                    continue
                out.append(doc)
                if len(out) == limit:
                    break
            if len(rows) < batch:
                break
            start, skip = rows[-1]["key"], 1
        return out
