"""Who pushed each revision that reached a shared database: the server's record, not the
device's word (a body's ``updated_by`` is whatever the device wrote there).

One document in the ops database per revision the router carries in from a rep database::

    fs_ops/push:<doc id>:<rev>
        {"_id": "push:order:o-1:2-abc", "type": "push", "doc_id": "order:o-1", "rev": "2-abc",
         "db": "fs_orders",                 the shared database it was copied into
         "pushed_by": "alice",              the owner of the rep database it came from
         "from_db": "rep_alice",
         "claimed_updated_by": "max",       the body's updated_by, kept for comparison
         "deleted": false, "at": "<server time, UTC>"}

Only the gateway (screened as ``pushed_by``) and the router (copies of shared revisions) write
into a rep database, so its owner is who pushed a revision found there. The router writes the
records before the revisions (a crash in between leaves a record of a revision the retry
copies, never a shared revision without one); a 409 means the record is already there.
:func:`pushers` reads the records of several revisions at once (one ``_all_docs``). A revision
without a record was written on the server (REST API, resolver), or before records existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mobile_schema import utc_now

from .couch import CouchClient

TYPE = "push"


def push_id(doc_id: str, rev: str) -> str:
    return f"{TYPE}:{doc_id}:{rev}"


def push_record(
    doc: Mapping[str, Any], *, db: str, from_db: str, user_id: str, at: str
) -> dict[str, Any]:
    claimed = doc.get("updated_by")
    return {
        "_id": push_id(doc["_id"], doc["_rev"]),
        "type": TYPE,
        "doc_id": doc["_id"],
        "rev": doc["_rev"],
        "db": db,
        "pushed_by": user_id,
        "from_db": from_db,
        "claimed_updated_by": claimed if isinstance(claimed, str) else None,
        "deleted": bool(doc.get("_deleted")),
        "at": at,
    }


async def record_pushes(
    couch: CouchClient,
    ops_db: str,
    docs: Sequence[Mapping[str, Any]],
    *,
    db: str,
    from_db: str,
    user_id: str,
) -> None:
    """Write the push records of ``docs`` (revisions about to be copied into ``db``)."""
    now = utc_now()
    records = [push_record(d, db=db, from_db=from_db, user_id=user_id, at=now) for d in docs]
    if records:
        # an existing record answers 409 per document: the same push, recorded before
        await couch.bulk_docs(ops_db, records)


async def pushers(
    couch: CouchClient, ops_db: str, doc_id: str, revs: Iterable[str]
) -> dict[str, str | None]:
    """``{rev: user who pushed it}``; None for revisions written on the server."""
    wanted = sorted(set(revs))
    if not wanted:
        return {}
    result = await couch.all_docs(
        ops_db, keys=[push_id(doc_id, r) for r in wanted], include_docs=True
    )
    found: dict[str, str | None] = dict.fromkeys(wanted)
    for row in result.get("rows", []):
        doc = row.get("doc")
        if isinstance(doc, Mapping) and doc.get("rev") in found:
            pushed = doc.get("pushed_by")
            found[doc["rev"]] = pushed if isinstance(pushed, str) else None
    return found
