"""Where snapshots live: one document per field user in ``fs_ops``, the dump as its attachment.

    fs_ops/snapshot:<user id>
        {"type": "snapshot", "user_id", "db", "seq", "seq_number", "built_at" (epoch s),
         "leaves", "doc_count", "gz_bytes", "raw_bytes", "sha256", "attachment": "<sha>.ndjson.gz",
         "_attachments": {"<sha>.ndjson.gz": the gzipped dump, application/gzip}}

Stored in CouchDB, so a restart finds them and every gateway process of a deployment (CouchDB 3
behind a load balancer) serves the same snapshot with the same ETag; nothing lives on one
gateway's disk. A new dump replaces the old in two writes that each leave a consistent document:
the new attachment is added beside the old one (the metadata still names the old), then the
metadata is switched to the new one and the old attachment dropped. A reader that raced the
switch and finds its attachment gone reads the document again (:meth:`SnapshotStore.open`).
Two builders racing on one user keep the snapshot with the higher sequence.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..couch import CouchClient, CouchConflict, CouchNotFound, doc_path, update_with_retry
from ..couch.client import RawResponse, segment
from ..databases import Databases
from . import SnapshotMissing

CONTENT_TYPE = "application/gzip"  # not in CouchDB's compressible types: stored as is, rangeable


def snapshot_doc_id(user_id: str) -> str:
    return f"snapshot:{user_id}"


@dataclass(frozen=True)
class Snapshot:
    user_id: str
    db: str
    seq: Any
    seq_number: int
    built_at: float
    leaves: int
    doc_count: int
    gz_bytes: int
    raw_bytes: int
    sha256: str
    attachment: str

    def etag(self, gzipped: bool) -> str:
        """Strong ETags, one per representation (gzip-encoded bytes, or the plain dump)."""
        tag = self.sha256[:32]
        return f'"{tag}"' if gzipped else f'"{tag}-plain"'

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Snapshot | None:
        name = doc.get("attachment")
        if not name or name not in (doc.get("_attachments") or {}):
            return None
        fields = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        return cls(**fields) if len(fields) == len(cls.__dataclass_fields__) else None


class SnapshotStore:
    def __init__(self, couch: CouchClient, dbs: Databases) -> None:
        self.couch = couch
        self.dbs = dbs

    async def current(self, user_id: str) -> Snapshot | None:
        doc = await self.couch.get_or_none(self.dbs.ops, snapshot_doc_id(user_id))
        return Snapshot.from_doc(doc) if doc else None

    async def open(
        self, user_id: str, range_for: Callable[[Snapshot], str | None] | None = None
    ) -> tuple[Snapshot, RawResponse]:
        """The current snapshot and its attachment's answer, body unread: ``206`` when CouchDB
        honoured the ``Range`` that ``range_for(snapshot)`` gave, else ``200`` with all of it."""
        for _ in range(3):
            snap = await self.current(user_id)
            if snap is None:
                raise SnapshotMissing(user_id)
            headers = {"Accept": CONTENT_TYPE, "Accept-Encoding": "identity"}
            range_header = range_for(snap) if range_for else None
            if range_header:
                headers["Range"] = range_header
            path = self._attachment_path(user_id, snap)
            resp = await self.couch.open("GET", path, headers=headers)
            if resp.status_code in (200, 206):
                return snap, resp
            resp.close()  # replaced between the two reads: read the document again
        raise SnapshotMissing(user_id)

    async def save(self, user_id: str, dump: Path, meta: Snapshot) -> Snapshot:
        """Store ``dump`` (the gzipped file) as the user's snapshot described by ``meta``;
        return what is current afterwards (another builder's when it was newer)."""
        doc_id = snapshot_doc_id(user_id)

        async def replace(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                # a 409 here or below (another builder wrote meanwhile) starts the round again
                created = await self.couch.put(
                    self.dbs.ops, {"_id": doc_id, "type": "snapshot", "user_id": user_id}
                )
                doc = {"_id": doc_id, "_rev": created["rev"], "type": "snapshot"}
            current = Snapshot.from_doc(doc)
            if current is not None and current.seq_number > meta.seq_number:
                return None
            rev = await self._put_attachment(doc_id, doc["_rev"], meta.attachment, dump)
            # the stub as stored (digest, length, revpos): PouchDB Server wants it whole; the
            # metadata goes on the attachment's revision
            written = await self.couch.get(self.dbs.ops, doc_id, rev=rev)
            return {
                "_rev": rev,
                "type": "snapshot",
                **asdict(meta),
                "_attachments": {meta.attachment: written["_attachments"][meta.attachment]},
            }

        updated = await update_with_retry(self.couch, self.dbs.ops, doc_id, replace)
        if updated.written:
            return meta
        newer = Snapshot.from_doc(updated.doc) if updated.doc else None
        assert newer is not None  # replace keeps only a newer snapshot
        return newer

    async def _put_attachment(self, doc_id: str, rev: str, name: str, dump: Path) -> str:
        with dump.open("rb") as body:
            result = await self.couch.put_attachment(
                self.dbs.ops,
                doc_id,
                name,
                rev,
                body,  # streamed from the file, never read whole
                content_type=CONTENT_TYPE,
                length=os.fstat(body.fileno()).st_size,
            )
        rev_out: str = result["rev"]
        return rev_out

    async def delete(self, user_id: str) -> None:
        doc = await self.couch.get_or_none(self.dbs.ops, snapshot_doc_id(user_id))
        if doc is not None:
            try:
                await self.couch.delete(self.dbs.ops, doc["_id"], doc["_rev"])
            except (CouchConflict, CouchNotFound):
                pass

    def _attachment_path(self, user_id: str, snap: Snapshot) -> str:
        return f"{doc_path(self.dbs.ops, snapshot_doc_id(user_id))}/{segment(snap.attachment)}"
