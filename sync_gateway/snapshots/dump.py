"""The dump: pouchdb-replication-stream's format, as ``pouchdb-load`` and its ``load()`` read it.

Newline-delimited JSON, gzipped as a whole (one gzip member)::

    {"version": "1.2.9", "db_type": "http", "start_time": "...", "db_info": {...}}   header
    {"docs": [{"_id", "_rev", "_revisions": {"start", "ids"}, ...}, ...]}           a batch
    {"seq": <seq>}                                       all lines above are at <seq> or later
    ...
    {"seq": <S>}                                         the snapshot's sequence (the last line)

A ``docs`` line holds at most ``PAGE`` (500) documents, so a device can store the dump line by
line in bounded transactions. Each is what a replicator would write into an empty database with
``new_edits=false``: every **leaf** revision of every document, with its ``_revisions`` history.
That decides the three cases the replication after the dump must find exactly right:

- conflicted documents: every leaf, winning and losing, so the device holds the same conflict
  (the follow-up replication starts after ``S`` and would never bring a loser written before it);
- deletions: the tombstone leaves (``_deleted: true`` with history), so a deleted document is
  deleted on the device too, exactly as a plain replication leaves it;
- attachments: inline, base64 (``attachments=true``), one document per line so a line holds at most
  one document's photos; stubs would leave the device unable to store the revision.

Design documents are left out, as the gateway hides them. The dump is read out of a live database
without any lock: the changes feed is read from 0 to its end in pages, each page's leaves fetched
right after it. A document written meanwhile shows up again later in the feed, or after ``S``
(the follow-up replication brings it), so loading the dump and replicating from ``S`` always
converges; a revision compacted away between the page and the fetch is skipped for the same reason.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from ..couch import CouchClient, CouchNotFound, doc_path
from ..feeds import hidden

FORMAT_VERSION = "1.2.9"  # the pouchdb-replication-stream release whose format this is
GZIP_LEVEL = 6  # built once, served many times: worth more effort than live feeds get
PAGE = 500


class DumpWriter:
    """Lines into a gzip file, counting the uncompressed bytes and hashing the compressed ones."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        self._sha = hashlib.sha256()
        self.raw_bytes = 0
        self.gz_bytes = 0

    def line(self, value: Any) -> None:
        data = orjson.dumps(value) + b"\n"
        self.raw_bytes += len(data)
        self._emit(self._z.compress(data))

    def close(self) -> str:
        """Finish the gzip stream; return the sha256 of the compressed bytes."""
        self._emit(self._z.flush())
        self._out.flush()
        return self._sha.hexdigest()

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._sha.update(data)
            self.gz_bytes += len(data)


@dataclass(frozen=True)
class DumpResult:
    seq: Any  # the snapshot's sequence (its last line)
    leaves: int  # revisions written (documents + conflicting leaves + tombstones)
    doc_count: int  # live documents in the database when the dump started


async def write_dump(couch: CouchClient, db: str, writer: DumpWriter) -> DumpResult:
    """Read ``db`` into ``writer`` as described in the module docstring."""
    info = await couch.db_info(db)
    writer.line(
        {
            "version": FORMAT_VERSION,
            "db_type": "http",
            "start_time": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "db_info": {
                k: info[k]
                for k in ("db_name", "doc_count", "doc_del_count", "update_seq")
                if k in info
            },
        }
    )
    since: Any = 0
    leaves = 0
    while True:
        page = await couch.changes(db, since=since, limit=PAGE, style="all_docs")
        wanted = [
            {"id": row["id"], "rev": change["rev"]}
            for row in page.results
            if not hidden(row)
            for change in row.get("changes", [])
        ]
        if wanted:
            leaves += await _write_leaves(couch, db, wanted, writer)
        since = page.last_seq
        if len(page.results) < PAGE:
            break
        writer.line({"seq": since})
    writer.line({"seq": since})
    return DumpResult(since, leaves, int(info.get("doc_count", 0)))


async def _write_leaves(
    couch: CouchClient, db: str, wanted: list[dict[str, str]], writer: DumpWriter
) -> int:
    results = await couch.bulk_get(db, wanted, revs=True)
    plain: list[dict[str, Any]] = []
    heavy: list[dict[str, Any]] = []
    for result in results:
        for entry in result.get("docs", []):
            doc = entry.get("ok")
            if doc is None:
                continue  # compacted or purged meanwhile: a newer revision comes later
            (heavy if doc.get("_attachments") else plain).append(doc)
    if plain:
        writer.line({"docs": plain})
    written = len(plain)
    for stub in heavy:
        full = await _with_attachments(couch, db, stub)
        if full is not None:
            writer.line({"docs": [full]})
            written += 1
    return written


async def _with_attachments(
    couch: CouchClient, db: str, stub: dict[str, Any]
) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = await couch.request(
            "GET",
            doc_path(db, stub["_id"]),
            params={"rev": stub["_rev"], "revs": True, "attachments": True},
        )
    except CouchNotFound:
        return None
    return doc
