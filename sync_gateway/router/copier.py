"""Batched copying of revisions between databases, and the router's own tombstones.

Copying keeps revision histories identical everywhere: ``_revs_diff`` against the target says
which revisions it lacks, ``_bulk_get`` (``revs=true``, ``attachments=true``) reads exactly
those from the source with their history, and ``_bulk_docs`` with ``new_edits=false`` stores
them as they are. Every leaf travels, so a conflict is the same conflict in every database, and
copying a revision twice changes nothing. Requests carry at most ``batch_size`` documents.

A document a user may no longer see is deleted in their database only, by a tombstone that is
a child of each live leaf there. Its revision id is derived from its parent::

    router tombstone of "<n>-<h>"  =  "<n+1>-" + md5("fieldsync-router-tombstone:<n>-<h>")

so writing it twice (a restart) is a no-op, and the fan-in recognises it by its ``_revisions``
and never carries it back to a shared database.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..couch import CouchClient, chunked, db_path

TOMBSTONE_SALT = "fieldsync-router-tombstone"

Revs = dict[str, list[str]]


def router_tombstone_rev(parent_rev: str) -> str:
    """The revision id of the router's tombstone on top of ``parent_rev``."""
    generation = int(parent_rev.split("-", 1)[0])
    digest = hashlib.md5(f"{TOMBSTONE_SALT}:{parent_rev}".encode(), usedforsecurity=False)
    return f"{generation + 1}-{digest.hexdigest()}"


def router_tombstone(doc_id: str, parent_rev: str) -> dict[str, Any]:
    """The tombstone document (for ``new_edits=false``) that closes leaf ``parent_rev``."""
    rev = router_tombstone_rev(parent_rev)
    generation = int(rev.split("-", 1)[0])
    return {
        "_id": doc_id,
        "_rev": rev,
        "_deleted": True,
        "_revisions": {
            "start": generation,
            "ids": [rev.split("-", 1)[1], parent_rev.split("-", 1)[1]],
        },
    }


def is_router_tombstone(doc: Mapping[str, Any]) -> bool:
    """Whether a revision read with ``revs=true`` is a tombstone the router wrote."""
    if not doc.get("_deleted"):
        return False
    history = doc.get("_revisions")
    if not isinstance(history, Mapping):
        return False
    ids = history.get("ids") or []
    start = history.get("start")
    if len(ids) < 2 or not isinstance(start, int):
        return False
    return doc.get("_rev") == router_tombstone_rev(f"{start - 1}-{ids[1]}")


@dataclass(frozen=True)
class DocState:
    """A document's winning revision in one database, and its other live leaves."""

    doc_id: str
    rev: str
    deleted: bool
    conflicts: tuple[str, ...] = ()
    body: Mapping[str, Any] | None = None

    @property
    def leaves(self) -> list[str]:
        return [self.rev, *self.conflicts]


class Copier:
    """Batched revision copies and tombstones over one CouchDB client."""

    def __init__(self, couch: CouchClient, *, batch_size: int = 200) -> None:
        self.couch = couch
        self.batch_size = batch_size

    async def missing(self, target: str, revs: Mapping[str, Iterable[str]]) -> Revs:
        """The revisions of ``revs`` that ``target`` does not have."""
        out: Revs = {}
        items = [(doc_id, list(r)) for doc_id, r in revs.items() if r]
        for batch in chunked(items, self.batch_size):
            diff = await self.couch.revs_diff(target, dict(batch))
            for doc_id, entry in diff.items():
                if entry.get("missing"):
                    out[doc_id] = list(entry["missing"])
        return out

    async def missing_given(
        self, target: str, revs: Mapping[str, Iterable[str]], known: Mapping[str, DocState]
    ) -> Revs:
        """:meth:`missing`, knowing ``known`` (:meth:`states` of the same ids in ``target``):
        a document the target never saw lacks every revision, one whose live leaves include
        every revision lacks none; only the others are asked (``_revs_diff``). A push of new
        documents then costs no ``_revs_diff`` at all."""
        out: Revs = {}
        ask: dict[str, list[str]] = {}
        for doc_id, given in revs.items():
            wanted = list(given)
            state = known.get(doc_id)
            if not wanted or (state is not None and set(wanted) <= set(state.leaves)):
                continue
            if state is None:
                out[doc_id] = wanted
            else:
                ask[doc_id] = wanted
        if ask:
            out.update(await self.missing(target, ask))
        return out

    async def fetch(
        self, source: str, revs: Mapping[str, Iterable[str]], cache: dict[tuple[str, str], Any]
    ) -> list[dict[str, Any]]:
        """The given revisions with history and attachments; reuses and fills ``cache``."""
        wanted = [(i, r) for i, rs in revs.items() for r in rs]
        todo = [{"id": i, "rev": r} for i, r in wanted if (i, r) not in cache]
        for batch in chunked(todo, self.batch_size):
            result = await self.couch.request(
                "POST",
                f"{db_path(source)}/_bulk_get",
                params={"revs": True, "attachments": True},
                json={"docs": batch},
            )
            for entry in result["results"]:
                for item in entry.get("docs", []):
                    doc = item.get("ok")
                    if doc is not None:
                        cache[(doc["_id"], doc["_rev"])] = doc
        return [cache[key] for key in wanted if key in cache]

    async def write(self, target: str, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store revisions as they are (``new_edits=false``); return the per-doc errors."""
        errors: list[dict[str, Any]] = []
        for batch in chunked(docs, self.batch_size):
            result = await self.couch.bulk_docs(target, batch, new_edits=False)
            errors.extend(r for r in result if "error" in r)
        return errors

    async def copy(
        self,
        source: str,
        target: str,
        revs: Mapping[str, Iterable[str]],
        cache: dict[tuple[str, str], Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Copy what ``target`` lacks of ``revs`` from ``source``; return the docs written."""
        missing = await self.missing(target, revs)
        if not missing:
            return []
        docs = await self.fetch(source, missing, {} if cache is None else cache)
        await self.write(target, docs)
        return docs

    async def states(
        self, db: str, ids: Iterable[str], *, include_docs: bool = False
    ) -> dict[str, DocState]:
        """The current state of ``ids`` in ``db`` (absent ids are left out)."""
        out: dict[str, DocState] = {}
        for batch in chunked(sorted(set(ids)), self.batch_size):
            params: dict[str, Any] = (
                {"include_docs": True, "conflicts": True} if include_docs else {}
            )
            result = await self.couch.all_docs(db, keys=batch, **params)
            for row in result["rows"]:
                value = row.get("value")
                if "error" in row or not isinstance(value, Mapping):
                    continue
                doc = row.get("doc") if include_docs else None
                conflicts = tuple(doc.get("_conflicts", ())) if isinstance(doc, Mapping) else ()
                out[row["id"]] = DocState(
                    row["id"], value["rev"], bool(value.get("deleted")), conflicts, doc
                )
        return out

    async def tombstone(self, db: str, ids: Iterable[str]) -> list[str]:
        """Delete ``ids`` in ``db`` only, closing every live leaf; return the ids deleted."""
        states = await self.states(db, ids, include_docs=True)
        docs = [
            router_tombstone(state.doc_id, leaf)
            for state in states.values()
            if not state.deleted
            for leaf in state.leaves
        ]
        if docs:
            await self.write(db, docs)
        return sorted({d["_id"] for d in docs})

    async def live_ids(self, db: str) -> AsyncIterator[list[str]]:
        """The ids of the live documents of ``db``, a page at a time (design docs left out)."""
        start: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.batch_size + (1 if start else 0)}
            if start is not None:
                params["startkey"] = start
            rows = (await self.couch.all_docs(db, **params))["rows"]
            if start is not None and rows and rows[0]["id"] == start:
                rows = rows[1:]
            if not rows:
                return
            yield [r["id"] for r in rows if not r["id"].startswith("_design/")]
            start = rows[-1]["id"]
            if len(rows) < self.batch_size:
                return

    async def all_docs(self, db: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Every live document of ``db`` with its body, a page at a time."""
        start: str | None = None
        while True:
            params: dict[str, Any] = {
                "limit": self.batch_size + (1 if start else 0),
                "include_docs": True,
            }
            if start is not None:
                params["startkey"] = start
            rows = (await self.couch.all_docs(db, **params))["rows"]
            if start is not None and rows and rows[0]["id"] == start:
                rows = rows[1:]
            if not rows:
                return
            yield [r["doc"] for r in rows if not r["id"].startswith("_design/") and r.get("doc")]
            start = rows[-1]["id"]
            if len(rows) < self.batch_size:
                return
