"""Where the router stopped reading each source database: ``_local`` documents in fs_ops.

One document per source database (fs_master, fs_orders, fs_field and every rep_<id>)::

    fs_ops/_local/router-checkpoint:<source db>
      {"source": "<source db>", "seq": <last_seq the router finished>, "updated_at": "<UTC>"}

``_local`` documents are kept by CouchDB like any other but appear in no ``_changes`` feed, no
``_all_docs`` and no replication: the router writes one after every batch, and thousands of
rep databases would otherwise flood fs_ops's feed, which other workers follow. A checkpoint is
written only after everything its batch implied has been written, so a restart resumes from it
and at most repeats the last batch, which is harmless (copies are checked with ``_revs_diff``
and written with ``new_edits=false``; the router's tombstones have deterministic revision ids).
"""

from __future__ import annotations

from typing import Any

from mobile_schema import utc_now

from ..couch import CouchClient, CouchConflict, CouchNotFound

PREFIX = "router-checkpoint:"


class Checkpoints:
    """Read and write the router's checkpoints in one database (fs_ops)."""

    def __init__(self, couch: CouchClient, db: str) -> None:
        self.couch = couch
        self.db = db
        self._revs: dict[str, str] = {}

    async def load(self, source: str) -> Any:
        """The sequence to resume ``source`` from: its checkpoint, or 0."""
        doc = await self.couch.get_local(self.db, PREFIX + source)
        if doc is None:
            self._revs.pop(source, None)
            return 0
        self._revs[source] = doc["_rev"]
        return doc.get("seq", 0)

    async def save(self, source: str, seq: Any) -> None:
        body: dict[str, Any] = {"source": source, "seq": seq, "updated_at": utc_now()}
        for _ in range(3):
            if source in self._revs:
                body["_rev"] = self._revs[source]
            else:
                body.pop("_rev", None)
            try:
                result = await self.couch.put_local(self.db, PREFIX + source, body)
            except CouchConflict:
                # Someone else (an earlier run of ours) wrote it: take its revision and retry.
                current = await self.couch.get_local(self.db, PREFIX + source)
                if current is None:
                    self._revs.pop(source, None)
                else:
                    self._revs[source] = current["_rev"]
                continue
            self._revs[source] = result["rev"]
            return
        raise CouchConflict(409, "conflict", f"checkpoint of {source} keeps changing")

    async def forget(self, source: str) -> None:
        """Drop the checkpoint of a database that was deleted (a new one starts from 0)."""
        doc = await self.couch.get_local(self.db, PREFIX + source)
        self._revs.pop(source, None)
        if doc is not None:
            try:
                await self.couch.delete(self.db, f"_local/{PREFIX}{source}", doc["_rev"])
            except CouchNotFound:
                pass
