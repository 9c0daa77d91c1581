"""An order's history for the back office: who wrote which revision, and its conflicts.

    {"order_id": "order:o-1", "rev": "<current winner>", "status": "confirmed",
     "revisions": [{"rev", "available", "deleted", "status", "total", "updated_at",
                    "updated_by", "lines"}, ...],          newest first, at most MAX_REVISIONS
     "open_conflicts": ["3-abc", ...],                     live leaves besides the winner now
     "conflicts": [<conflict_record> + {"leaf_authors": {rev: updated_by | null}}, ...]}

``revisions`` walk the winner's history (``revs_info``); CouchDB keeps an old body only until
the database is compacted, so an old revision may be ``available: false`` (its id is still
known, its author no longer). ``updated_by`` is what the writer stamped: a user id (a rep
writing from a phone, or the back-office user) or a device id.

``conflicts`` are the resolver's records for this order (``fs_ops``), newest first, each with
the author of every leaf that was in conflict, read from those leaves while CouchDB still has
them. Records are found by their id, which starts with the order's id (see
:func:`conflict.records.record_id`), so no view is needed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from mobile_schema.ids import is_local_id
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases

from ..problems import NotFound
from .orders import order_ref

Doc = dict[str, Any]
MAX_REVISIONS: Final = 50
MAX_RECORDS: Final = 50
# conflict.records caps the part of a record id taken from the document id at 128 - 34 chars
_ID_HEAD: Final = 94


async def _body(couch: CouchClient, db: str, doc_id: str, rev: str) -> Doc | None:
    return await couch.get_or_none(db, doc_id, rev=rev)


def record_prefix(doc_id: str) -> str:
    """The start every conflict record id of ``doc_id`` shares (readable or hashed form)."""
    head = ""
    for char in doc_id[:_ID_HEAD]:
        if not is_local_id(char):
            break  # the hashed form replaces such characters
        head += char
    return f"conflict_record:{head}"


async def conflict_records(couch: CouchClient, dbs: Databases, doc_id: str) -> list[Doc]:
    """The conflict records of ``doc_id``, newest first."""
    prefix = record_prefix(doc_id)
    page = await couch.all_docs(
        dbs.ops, startkey=prefix, endkey=prefix + "\ufff0", include_docs=True, limit=1000
    )
    records = [
        row["doc"]
        for row in page["rows"]
        if isinstance(row.get("doc"), dict) and row["doc"].get("doc_id") == doc_id
    ]
    records.sort(key=lambda r: (str(r.get("updated_at")), r["_id"]), reverse=True)
    return records[:MAX_RECORDS]


def _entry(rev: str, status: str, body: Doc | None) -> Doc:
    body = body or {}
    return {
        "rev": rev,
        "available": status == "available" and bool(body),
        "deleted": status == "deleted" or bool(body.get("_deleted")),
        "status": body.get("status"),
        "total": body.get("total"),
        "updated_at": body.get("updated_at"),
        "updated_by": body.get("updated_by"),
        "lines": sum(1 for ln in body.get("lines") or [] if not ln.get("deleted")),
    }


async def order_history(couch: CouchClient, dbs: Databases, order_id: str) -> Doc:
    """See the module docstring; NotFound when there is no such order."""
    doc_id = order_ref(order_id)
    current = await couch.get_or_none(dbs.orders, doc_id, revs_info=True, conflicts=True)
    if current is None or current.get("type") != "order":
        raise NotFound(f"there is no order {order_id!r}")
    infos = (current.get("_revs_info") or [])[:MAX_REVISIONS]
    bodies = await asyncio.gather(
        *(
            _body(couch, dbs.orders, doc_id, info["rev"])
            if info.get("status") == "available" and info["rev"] != current["_rev"]
            else asyncio.sleep(0, current if info["rev"] == current["_rev"] else None)
            for info in infos
        )
    )
    revisions = [
        _entry(info["rev"], str(info.get("status")), body)
        for info, body in zip(infos, bodies, strict=True)
    ]
    records = await conflict_records(couch, dbs, doc_id)
    leaf_revs = sorted({rev for r in records for rev in r.get("leaves") or []})
    leaf_bodies = await asyncio.gather(*(_body(couch, dbs.orders, doc_id, r) for r in leaf_revs))
    author = {
        rev: (body or {}).get("updated_by")
        for rev, body in zip(leaf_revs, leaf_bodies, strict=True)
    }
    for record in records:
        record["leaf_authors"] = {rev: author.get(rev) for rev in record.get("leaves") or []}
    return {
        "order_id": doc_id,
        "rev": current["_rev"],
        "status": current.get("status"),
        "revisions": revisions,
        "open_conflicts": list(current.get("_conflicts") or []),
        "conflicts": records,
    }
