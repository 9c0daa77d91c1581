"""Screening a batch of pushed documents before it reaches CouchDB.

``screen(...)`` takes the documents of one ``_bulk_docs`` (or one ``PUT``) and splits them into
the ones to store and per-document refusals in CouchDB's own form
(``{"id", "error": "forbidden" | "too_large" | "bad_request", "reason"}``), so the client's
replicator records each refusal and the rest of the batch is stored.

Shape checks (ids, revision strings, ``_revisions``, sizes) run first, so CouchDB never sees a
request that could crash or mislead it; then the access rules (``access.py``). The rules need
the revision each document edits (its parent) and which accounts and visits the user can see;
both come from at most two batched reads of the user's database (``_all_docs`` with
``include_docs``, then ``_bulk_get`` only for edits of a revision that is no longer the winner).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .access import WriteContext, check_write, references
from .couch import CouchClient

REV_RE = re.compile(r"^[1-9][0-9]{0,8}-[0-9a-zA-Z]{1,64}$")
REV_HASH_RE = re.compile(r"^[0-9a-zA-Z]{1,64}$")
MAX_ID_LENGTH = 256
MAX_REVISIONS = 1000
MAX_ATTACHMENT_BYTES = 12_000_000  # base64 text of one inline attachment


@dataclass
class Screened:
    """The outcome for one batch: what to forward and what was refused, by input position."""

    accepted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    refused: dict[int, dict[str, str]] = field(default_factory=dict)

    def refuse(self, index: int, doc_id: Any, error: str, reason: str) -> None:
        self.refused[index] = {"id": str(doc_id), "error": error, "reason": reason}


def shape_error(doc: Any, *, new_edits: bool, max_doc_bytes: int) -> tuple[str, str] | None:
    """A (error, reason) pair when the document is not something to forward at all."""
    if not isinstance(doc, dict):
        return "bad_request", "each document must be a JSON object"
    doc_id = doc.get("_id")
    if not isinstance(doc_id, str) or not doc_id:
        return "bad_request", "every pushed document needs a string _id"
    if len(doc_id) > MAX_ID_LENGTH:
        return "bad_request", f"_id is longer than {MAX_ID_LENGTH} characters"
    if doc_id.startswith("_design/"):
        return "forbidden", "design documents cannot be written by devices"
    if doc_id.startswith("_"):
        return "bad_request", "document ids may not start with an underscore"
    rev = doc.get("_rev")
    if rev is not None and (not isinstance(rev, str) or not REV_RE.match(rev)):
        return "bad_request", f"_rev {rev!r} is not a revision id like 1-abc123"
    if not new_edits:
        if rev is None:
            return "bad_request", "new_edits=false needs a _rev on every document"
        problem = _revisions_problem(doc.get("_revisions"), rev)
        if problem:
            return "bad_request", problem
    attachments = doc.get("_attachments")
    if attachments is not None:
        problem = _attachments_problem(attachments)
        if problem:
            return problem
    body = {k: v for k, v in doc.items() if k != "_attachments"}
    try:
        size = len(orjson.dumps(body))
    except orjson.JSONEncodeError:
        return "bad_request", "the document nests too deeply (or holds a value JSON cannot carry)"
    if size > max_doc_bytes:
        return "too_large", f"document is {size} bytes; the limit is {max_doc_bytes}"
    return None


def _revisions_problem(revisions: Any, rev: str) -> str | None:
    if revisions is None:
        return None
    if not isinstance(revisions, dict):
        return "_revisions must be an object {start, ids}"
    start, ids = revisions.get("start"), revisions.get("ids")
    if not isinstance(start, int) or isinstance(start, bool) or start < 1:
        return "_revisions.start must be a positive integer"
    if not isinstance(ids, list) or not ids or len(ids) > MAX_REVISIONS:
        return f"_revisions.ids must be a list of 1 to {MAX_REVISIONS} revision hashes"
    if len(ids) > start:
        return "_revisions lists more revisions than its start generation"
    if not all(isinstance(i, str) and REV_HASH_RE.match(i) for i in ids):
        return "_revisions.ids must be revision hashes"
    if f"{start}-{ids[0]}" != rev:
        return f"_revisions does not end at _rev {rev}"
    return None


def _attachments_problem(attachments: Any) -> tuple[str, str] | None:
    if not isinstance(attachments, dict):
        return "bad_request", "_attachments must be an object"
    for name, att in attachments.items():
        if (
            not name
            or name.startswith("_")
            or ".." in name.split("/")
            or any(ord(c) < 32 for c in name)
        ):
            return "bad_request", f"attachment name {name!r} is not allowed"
        if not isinstance(att, dict):
            return "bad_request", f"attachment {name!r} must be an object"
        data = att.get("data")
        if data is not None and (not isinstance(data, str) or len(data) > MAX_ATTACHMENT_BYTES):
            return "too_large", f"attachment {name!r} is larger than the limit"
    return None


def parent_rev(doc: Mapping[str, Any], *, new_edits: bool) -> str | None:
    """The revision this document was edited from, when it can be told."""
    if new_edits:
        rev = doc.get("_rev")
        return rev if isinstance(rev, str) else None
    revisions = doc.get("_revisions")
    if isinstance(revisions, dict) and len(revisions.get("ids", [])) >= 2:
        return f"{revisions['start'] - 1}-{revisions['ids'][1]}"
    return None


def _needs_lookup(doc: Mapping[str, Any], parent: str | None) -> bool:
    return parent is not None or doc.get("_deleted") is True or bool(references(doc))


async def screen(
    couch: CouchClient,
    db: str,
    user_id: str,
    role: str,
    docs: Sequence[Any],
    *,
    new_edits: bool,
    max_doc_bytes: int,
) -> Screened:
    """Split ``docs`` into the ones ``user_id`` may store in ``db`` and refusals."""
    out = Screened()
    candidates: list[tuple[int, dict[str, Any], str | None]] = []
    for index, doc in enumerate(docs):
        problem = shape_error(doc, new_edits=new_edits, max_doc_bytes=max_doc_bytes)
        if problem:
            out.refuse(index, doc.get("_id") if isinstance(doc, dict) else None, *problem)
        else:
            candidates.append((index, doc, parent_rev(doc, new_edits=new_edits)))

    lookups = [(i, d, p) for i, d, p in candidates if _needs_lookup(d, p)]
    current: dict[str, dict[str, Any]] = {}
    visible: set[str] = set()
    parents: dict[tuple[str, str], dict[str, Any]] = {}
    if lookups:
        keys = {d["_id"] for _, d, _ in lookups}
        for _, d, _ in lookups:
            keys |= references(d)
        rows = (await couch.all_docs(db, keys=sorted(keys), include_docs=True))["rows"]
        for row in rows:
            doc = row.get("doc")
            if doc is not None:
                current[row["id"]] = doc
                visible.add(row["id"])
        older = [
            {"id": d["_id"], "rev": p}
            for _, d, p in lookups
            if p is not None and current.get(d["_id"], {}).get("_rev") != p
        ]
        if older:
            for result in await couch.bulk_get(db, older, revs=False):
                for entry in result.get("docs", []):
                    found = entry.get("ok")
                    if found is not None:
                        parents[(found["_id"], found["_rev"])] = found

    for index, doc, parent_id in candidates:
        doc_id = doc["_id"]
        winner = current.get(doc_id)
        parent: Mapping[str, Any] | None
        if parent_id is None:
            parent = None if doc.get("_deleted") is not True else winner
        elif winner is not None and winner.get("_rev") == parent_id:
            parent = winner
        else:
            # an edit of an older revision; if CouchDB no longer has its body, judge against
            # the winner, which is at least as strict about ownership
            parent = parents.get((doc_id, parent_id), winner)
        ctx = WriteContext(
            user_id=user_id,
            role=role,
            parent=parent,
            parent_is_current=parent is not None and parent is winner,
            visible=frozenset(visible),
        )
        reason = check_write(doc, ctx)
        if reason:
            out.refuse(index, doc_id, "forbidden", reason)
        else:
            out.accepted.append((index, doc))
    return out


def merge_results(
    screened: Screened, upstream: list[dict[str, Any]], *, new_edits: bool, total: int
) -> list[dict[str, Any]]:
    """The ``_bulk_docs`` answer in the client's order: CouchDB's results plus our refusals.

    Results are matched to documents by id, not by position: PouchDB Server sometimes answers a
    batch out of order. Two documents with the same id in one batch take their results in turn.
    """
    if not new_edits:
        # CouchDB answers only the failures for new_edits=false; keep that shape
        return list(upstream) + [screened.refused[i] for i in sorted(screened.refused)]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for result in upstream:
        by_id.setdefault(str(result.get("id")), []).append(result)
    by_index: dict[int, dict[str, Any]] = dict(screened.refused)
    for index, doc in screened.accepted:
        waiting = by_id.get(doc["_id"])
        by_index[index] = (
            waiting.pop(0)
            if waiting
            else {"id": doc["_id"], "error": "unknown_error", "reason": "no answer from CouchDB"}
        )
    return [by_index[i] for i in range(total) if i in by_index]
