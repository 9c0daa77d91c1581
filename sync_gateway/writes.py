"""Screening a batch of pushed documents before it reaches CouchDB.

``screen(...)`` takes the documents of one ``_bulk_docs`` (or one ``PUT``) and splits them into
the ones to store and per-document refusals in CouchDB's own form
(``{"id", "error": "forbidden" | "too_large" | "bad_request", "reason"}``), so the client's
replicator records each refusal and the rest of the batch is stored.

Shape checks (ids, revision strings, ``_revisions``, sizes) run first, so CouchDB never sees a
request that could crash or mislead it; then the access rules (``access.py``), judged against
the shared truth that ``truth.py`` reads for the whole batch (the current revision at home in
fs_orders / fs_field or in the user's database, the newest revision of each pushed history the
server knows, which accounts and visits the user can see): one ``_all_docs`` per database, and
``_revs_diff`` / ``_bulk_get`` only for histories that do not start at a current revision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .access import WriteContext, check_write, references
from .couch import CouchClient
from .databases import Databases
from .truth import Truth, ancestors, pushed_generation, read_truth
from .work import stage

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
        refused = _attachments_problem(attachments)
        if refused:
            return refused
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


async def screen(
    couch: CouchClient,
    dbs: Databases,
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
    candidates: list[tuple[int, dict[str, Any], list[str]]] = []
    with stage("shape"):
        for index, doc in enumerate(docs):
            problem = shape_error(doc, new_edits=new_edits, max_doc_bytes=max_doc_bytes)
            if problem:
                out.refuse(index, doc.get("_id") if isinstance(doc, dict) else None, *problem)
            else:
                candidates.append((index, doc, ancestors(doc, new_edits=new_edits)))
    if not candidates:
        return out

    refs: set[str] = set()
    for _, doc, _ in candidates:
        refs |= references(doc)
    with stage("truth"):
        truth = await read_truth(couch, dbs, db, [(d, h) for _, d, h in candidates], refs)
    with stage("access"):
        _judge(out, candidates, truth, user_id, role, new_edits)
    return out


def _judge(
    out: Screened,
    candidates: list[tuple[int, dict[str, Any], list[str]]],
    truth: Truth,
    user_id: str,
    role: str,
    new_edits: bool,
) -> None:
    for index, doc, _ in candidates:
        standing = truth.standing(doc["_id"])
        ctx = WriteContext(
            user_id=user_id,
            role=role,
            parent=standing.parent,
            parent_is_current=standing.parent_is_current,
            visible=truth.visible,
            current=standing.current,
            deleted=standing.deleted,
            generation=pushed_generation(doc, new_edits=new_edits),
            known_generation=standing.known_generation,
        )
        reason = check_write(doc, ctx)
        if reason:
            out.refuse(index, doc["_id"], "forbidden", reason)
        else:
            out.accepted.append((index, doc))


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
