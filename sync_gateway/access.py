"""Who may write what: the access rules of DESIGN.md for documents pushed by devices. Pure.

``check_write(doc, ctx)`` returns None when the field user may store ``doc`` in their own
database, or a reason a person can act on. A write is judged against the **shared truth**, never
only against the history the device sends. ``ctx`` is built by writes.py from the reads of
truth.py: the *home* of a document is fs_orders (orders) or fs_field (visits, notes, work
orders); its *current* revision is the winner at home when home has ever seen the id, else the
winner in the user's database; its *known parent* is the newest revision of the pushed history
that home or the user's database knows.

What is judged against what (in this order; the first rule that refuses decides):

| # | rule                                  | judged against                 | code               |
|---|---------------------------------------|--------------------------------|--------------------|
| 1 | only reps and engineers write         | the caller's role              | check_write        |
| 2 | generation <= known + 1000            | known parent, else current,    | _check_generation  |
|   | (MAX_GENERATION_STEP)                 | else 0 (a new document)        |                    |
| 3 | the document is the pusher's:         | the CURRENT revision (never    | _check_owner       |
|   | rep_id / assignee_id / author_id /    | the device's copy nor the      |                    |
|   | user_id                               | known parent)                  |                    |
| 4 | a deleted document stays deleted      | deleted at home or in the      | _check_not_deleted |
|   | (a live revision is refused)          | user's database                |                    |
| 5 | deletions: own draft orders and notes | known parent, else current     | _check_delete      |
| 6 | a valid document (mobile_schema)      | the pushed body                | validate_document  |
| 7 | the pushed owner field is the pusher  | the pushed body                | _check_<type>      |
| 8 | which fields and statuses may change  | known parent, else current     | _check_<type>      |
|   |                                       | (an unknown history is judged  |                    |
|   |                                       | as an edit of the current)     |                    |
| 9 | an order's status never goes back     | only when the parent IS the    | _check_order       |
|   |                                       | current revision (an older one |                    |
|   |                                       | is a conflict branch, merged)  |                    |

Per type (rules 7 and 8):

- order: create and edit their own (``rep_id``) in draft or submitted; never set
  ``confirmed_qty``, ``confirmed_at`` or ``rejection_reason``.
- visit: change check_in, check_out and status of visits assigned to them; create unplanned
  visits for accounts in their database.
- visit_note: create and edit notes they author, on visits in their database.
- work_order: change status and resolution of work orders assigned to them.
- notification: mark their own as read.
- product, price_list, account, contact, territory and anything else: read only.

Deletions: a device may delete its own draft orders and its own visit notes, nothing else. A
deletion the server has is final (rule 4): an edit made offline on a revision from before it,
or a new document on top of it, is refused; the device is told to create a new document.

A conflict branch (an offline edit of an older revision the server knows) is accepted when the
rules hold for that branch: the resolver merges it later, so nothing typed is refused for
arriving late. Who pushed what is recorded by the router (provenance.py), not taken from
``updated_by``, which stays what the device says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mobile_schema import (
    DEVICE_DELETABLE_TYPES,
    FIELD_ROLES,
    ORDER_STATUS_RANK,
    OWNER_FIELD,
    REP_ORDER_STATUSES,
    SchemaError,
    validate_document,
)

READ_ONLY_TYPES = frozenset({"product", "price_list", "account", "contact", "territory"})
BOOKKEEPING = frozenset(
    {
        "_id",
        "_rev",
        "_revisions",
        "_attachments",
        "updated_at",
        "updated_by",
        "_conflicts",
        "_deleted",
    }
)
VISIT_DEVICE_FIELDS = frozenset({"check_in", "check_out", "status"})
VISIT_DEVICE_STATUSES = frozenset({"planned", "in_progress", "done"})
WORK_ORDER_DEVICE_FIELDS = frozenset({"status", "resolution"})
WORK_ORDER_DEVICE_STATUSES = frozenset({"in_progress", "done"})
# Rule 2: more offline edits of one document than this between two syncs are not something a
# person does, and it is also the revision history PouchDB and CouchDB keep (revs_limit 1000):
# a branch longer than that could not be tied back to the shared tree anyway.
MAX_GENERATION_STEP = 1000


@dataclass(frozen=True)
class WriteContext:
    """What the rules need to know besides the document."""

    user_id: str
    role: str
    parent: Mapping[str, Any] | None = None  # the known parent, else the current revision
    parent_is_current: bool = False  # the parent is the current revision
    visible: frozenset[str] = field(default_factory=frozenset)  # ids present in the user's db
    current: Mapping[str, Any] | None = None  # the current live revision (home, else user db)
    deleted: bool = False  # the document is deleted at home or in the user's database
    generation: int = 0  # generation of the revision being pushed (0: not checked)
    known_generation: int = 0  # how far the server's tree of this document reaches


def doc_type_from_id(doc_id: str) -> str:
    return doc_id.split(":", 1)[0] if ":" in doc_id else ""


def check_write(doc: Mapping[str, Any], ctx: WriteContext) -> str | None:
    """None when ``ctx.user_id`` may store ``doc``; otherwise why not."""
    if ctx.role not in FIELD_ROLES:
        return f"a {ctx.role} does not write through the sync gateway; use the REST API"
    doc_id = doc.get("_id")
    if not isinstance(doc_id, str) or not doc_id:
        return "the document has no _id"
    reason = (
        _check_generation(ctx)
        or _check_owner(doc_id, ctx)
        or (None if doc.get("_deleted") is True else _check_not_deleted(doc_id, ctx))
    )
    if reason:
        return reason
    if doc.get("_deleted") is True:
        return _check_delete(doc_id, ctx)
    try:
        validate_document(doc)
    except SchemaError as exc:
        return f"invalid document: {exc}"
    doc_type = doc["type"]
    if doc_type in READ_ONLY_TYPES:
        return f"{doc_type} documents are read-only on devices"
    rule = _RULES.get(doc_type)
    if rule is None:
        return f"{doc_type} documents cannot be written by devices"
    return rule(doc, ctx)


def _check_generation(ctx: WriteContext) -> str | None:
    if ctx.generation <= ctx.known_generation + MAX_GENERATION_STEP:
        return None
    if ctx.known_generation == 0:
        return (
            f"revision generation {ctx.generation} for a document the server has never seen; "
            f"a new document starts at 1 (at most {MAX_GENERATION_STEP} edits before a sync)"
        )
    return (
        f"revision generation {ctx.generation} is far beyond this document's history on the "
        f"server (generation {ctx.known_generation}); sync before editing it further"
    )


_NOT_YOURS = {
    "order": "this order belongs to another rep; give your order an id of its own",
    "visit": "this visit is assigned to someone else now; your change was not stored",
    "work_order": "this work order is assigned to someone else now; your change was not stored",
    "visit_note": "this note was written by someone else; write a note of your own",
    "notification": "this notification is someone else's",
}


def _check_owner(doc_id: str, ctx: WriteContext) -> str | None:
    """Rule 3: the owner is the current revision's, whatever the pushed history says."""
    doc_type = doc_type_from_id(doc_id)
    owner = OWNER_FIELD.get(doc_type)
    if ctx.current is None or owner is None or ctx.current.get(owner) == ctx.user_id:
        return None
    return _NOT_YOURS[doc_type]


def _check_not_deleted(doc_id: str, ctx: WriteContext) -> str | None:
    if not ctx.deleted:
        return None
    kind = doc_type_from_id(doc_id).replace("_", " ") or "document"
    return (
        f"{kind} {doc_id.split(':', 1)[-1]} was deleted and stays deleted; "
        f"to keep this {kind}, create a new one (a new id)"
    )


def _check_delete(doc_id: str, ctx: WriteContext) -> str | None:
    doc_type = doc_type_from_id(doc_id)
    parent = ctx.parent
    if parent is None:
        return None if doc_type in DEVICE_DELETABLE_TYPES else "nothing to delete"
    if doc_type == "order":
        if parent.get("rep_id") != ctx.user_id:
            return "you can only delete your own orders"
        if parent.get("status") != "draft":
            return "only draft orders can be deleted; ask the back office to cancel this one"
        return None
    if doc_type == "visit_note":
        if parent.get("author_id") != ctx.user_id:
            return "you can only delete notes you wrote"
        return None
    return f"{doc_type or 'this'} document cannot be deleted from a device"


def _changed_fields(doc: Mapping[str, Any], parent: Mapping[str, Any]) -> set[str]:
    keys = (set(doc) | set(parent)) - BOOKKEEPING
    return {k for k in keys if doc.get(k) != parent.get(k)}


def _check_order(doc: Mapping[str, Any], ctx: WriteContext) -> str | None:
    if doc.get("rep_id") != ctx.user_id:
        return f"rep_id must be your own user id ({ctx.user_id}), not {doc.get('rep_id')!r}"
    parent = ctx.parent
    if parent is not None and parent.get("rep_id") != ctx.user_id:
        return "this order belongs to another rep"
    status = doc.get("status")
    if status not in REP_ORDER_STATUSES:
        if (
            parent is not None
            and parent.get("status") == status
            and not _rep_fields_changed(doc, parent)
        ):
            return None  # a device re-sending the back office's own revision unchanged
        return f"status {status!r} is set by the back office; a rep sets draft or submitted"
    if (
        parent is not None
        and ctx.parent_is_current
        and ORDER_STATUS_RANK.get(str(parent.get("status")), 0) > ORDER_STATUS_RANK[status]
    ):
        return f"an order cannot go back from {parent.get('status')} to {status}"
    parent_lines = {line.get("line_id"): line for line in (parent or {}).get("lines", [])}
    for line in doc.get("lines", []):
        before = parent_lines.get(line.get("line_id"), {})
        if line.get("confirmed_qty") != before.get("confirmed_qty"):
            return f"line {line.get('line_id')}: confirmed_qty is set by the back office"
    for owned in ("confirmed_at", "rejection_reason"):
        if doc.get(owned) != (parent or {}).get(owned):
            return f"{owned} is set by the back office"
    return None


def _rep_fields_changed(doc: Mapping[str, Any], parent: Mapping[str, Any]) -> bool:
    return bool(_changed_fields(doc, parent))


def _check_visit(doc: Mapping[str, Any], ctx: WriteContext) -> str | None:
    parent = ctx.parent
    if doc.get("assignee_id") != ctx.user_id:
        return "you can only write visits assigned to you"
    if doc.get("status") not in VISIT_DEVICE_STATUSES and (
        parent is None or parent.get("status") != doc.get("status")
    ):
        return f"visit status {doc.get('status')!r} is set by a manager"
    if parent is None:
        if doc.get("account_id") not in ctx.visible:
            return f"account {doc.get('account_id')!r} is not one of your accounts"
        return None
    if parent.get("assignee_id") != ctx.user_id:
        return "this visit is assigned to someone else"
    extra = _changed_fields(doc, parent) - VISIT_DEVICE_FIELDS
    if extra:
        return f"a device may change check_in, check_out and status of a visit, not {sorted(extra)}"
    return None


def _check_visit_note(doc: Mapping[str, Any], ctx: WriteContext) -> str | None:
    if doc.get("author_id") != ctx.user_id:
        return f"author_id must be your own user id ({ctx.user_id})"
    if ctx.parent is not None and ctx.parent.get("author_id") != ctx.user_id:
        return "this note was written by someone else"
    if doc.get("visit_id") not in ctx.visible:
        return f"visit {doc.get('visit_id')!r} is not one of your visits"
    return None


def _check_work_order(doc: Mapping[str, Any], ctx: WriteContext) -> str | None:
    parent = ctx.parent
    if parent is None:
        return "work orders are created by managers"
    if parent.get("assignee_id") != ctx.user_id:
        return "this work order is assigned to someone else"
    extra = _changed_fields(doc, parent) - WORK_ORDER_DEVICE_FIELDS
    if extra:
        return f"a device may change status and resolution of a work order, not {sorted(extra)}"
    if doc.get("status") != parent.get("status") and doc.get("status") not in (
        WORK_ORDER_DEVICE_STATUSES
    ):
        return f"work order status {doc.get('status')!r} is set by a manager"
    return None


def _check_notification(doc: Mapping[str, Any], ctx: WriteContext) -> str | None:
    parent = ctx.parent
    if parent is None:
        return "notifications are created by the server"
    if parent.get("user_id") != ctx.user_id:
        return "this notification is someone else's"
    extra = _changed_fields(doc, parent) - {"read"}
    if extra:
        return f"a device may only mark a notification as read, not change {sorted(extra)}"
    return None


_RULES = {
    "order": _check_order,
    "visit": _check_visit,
    "visit_note": _check_visit_note,
    "work_order": _check_work_order,
    "notification": _check_notification,
}


def references(doc: Mapping[str, Any]) -> set[str]:
    """Ids the rules need to see in the user's database to judge ``doc``."""
    doc_type = doc.get("type")
    if doc_type == "visit" and isinstance(doc.get("account_id"), str):
        return {doc["account_id"]}
    if doc_type == "visit_note" and isinstance(doc.get("visit_id"), str):
        return {doc["visit_id"]}
    return set()
