"""Reading and writing the shared databases' documents on behalf of API callers.

Every write the API makes goes through :func:`update_docs`: read the current revisions with one
``_all_docs?keys=...&include_docs=true``, let a pure ``change(doc_id, current)`` build each new
body (``current`` is None for a missing or deleted document; returning None means "leave it"),
write them with one ``_bulk_docs``, and redo only the documents CouchDB refused with a
``conflict`` (someone wrote them in between), at most :data:`MAX_ATTEMPTS` times
(``sync_gateway.couch.update_many_with_retry``). The result
has one row per id, in CouchDB's own per-document form::

    {"id": "account:a1", "ok": true, "rev": "3-ab.."}                 written
    {"id": "account:a1", "ok": true, "rev": "2-cd..", "unchanged": true}  same content: no write
    {"id": "account:a1", "error": "invalid" | "conflict" | ..., "reason": "..."}

Every body written carries ``updated_at`` (now) and ``updated_by`` (the caller), see :func:`stamp`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from mobile_schema import SchemaError, utc_now, validate_document
from mobile_schema.ids import split_id
from sync_gateway.couch import CouchClient, update_many_with_retry
from sync_gateway.couch.blocks import read_docs as read_docs  # the services read through it

from ..problems import BadInput

MAX_ATTEMPTS = 5
PAGE_SIZE = 1_000
# Bookkeeping that differs between two writes of the same content.
VOLATILE = frozenset({"_rev", "_revisions", "_conflicts", "updated_at", "updated_by"})

Doc = dict[str, Any]
Change = Callable[[str, Doc | None], Doc | None]


def full_id(doc_type: str, value: str) -> str:
    """``"north"`` or ``"territory:north"`` -> ``"territory:north"``; BadInput when malformed."""
    doc_id = value if value.startswith(f"{doc_type}:") else f"{doc_type}:{value}"
    try:
        split_id(doc_id)
    except SchemaError as exc:
        raise BadInput(exc.reason) from exc
    return doc_id


def local_id(doc_id: str) -> str:
    return doc_id.partition(":")[2]


def stamp(doc: Mapping[str, Any], user_id: str) -> Doc:
    """The body with ``updated_at`` = now and ``updated_by`` = the caller."""
    return {**doc, "updated_at": utc_now(), "updated_by": user_id}


def checked(doc: Doc) -> Doc:
    """The document when mobile_schema accepts it; BadInput with its reason otherwise."""
    try:
        validate_document(doc)
    except SchemaError as exc:
        raise BadInput(exc.reason) from exc
    return doc


def same_content(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two bodies differ only in bookkeeping (revision, updated_at/by)."""
    return {k: v for k, v in a.items() if k not in VOLATILE} == {
        k: v for k, v in b.items() if k not in VOLATILE
    }


async def read_doc(couch: CouchClient, db: str, doc_id: str) -> Doc | None:
    return (await read_docs(couch, db, [doc_id]))[doc_id]


async def scan(couch: CouchClient, db: str, doc_type: str) -> AsyncIterator[Doc]:
    """Every live document whose id starts with ``<doc_type>:``, a page at a time.

    A key-range read of ``_all_docs`` rather than a view: no design document to deploy (devices
    must never see one) and the same on CouchDB 3 and PouchDB Server.
    """
    start: str = f"{doc_type}:"
    skip = 0
    while True:
        page = await couch.all_docs(
            db,
            startkey=start,
            endkey=f"{doc_type}:\ufff0",
            include_docs=True,
            limit=PAGE_SIZE,
            skip=skip,
        )
        rows = page["rows"]
        for row in rows:
            doc = row.get("doc")
            if isinstance(doc, dict) and doc.get("type") == doc_type:
                yield doc
        if len(rows) < PAGE_SIZE:
            return
        start, skip = rows[-1]["key"], 1


async def update_docs(
    couch: CouchClient, db: str, ids: Iterable[str], change: Change
) -> dict[str, Doc]:
    """Apply ``change`` to each id and write the results; see the module docstring."""
    invalid: dict[str, Doc] = {}

    def checked_change(doc_id: str, before: Doc | None) -> Doc | None:
        try:
            after = change(doc_id, before)
        except BadInput as exc:
            invalid[doc_id] = {"id": doc_id, "error": "invalid", "reason": exc.detail}
            return None
        return after

    results = await update_many_with_retry(couch, db, ids, checked_change, attempts=MAX_ATTEMPTS)
    return {**results, **invalid}
