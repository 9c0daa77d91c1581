"""The access rules for documents pushed by devices (pure, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from mobile_schema import sample, sample_order_line
from sync_gateway.access import WriteContext, check_write

ALICE = WriteContext(user_id="alice", role="rep")
BOB = WriteContext(
    user_id="bob", role="engineer", visible=frozenset({"account:cafe-nord", "visit:v-1"})
)


def ctx(base: WriteContext, **changes: Any) -> WriteContext:
    return WriteContext(**{**base.__dict__, **changes})


ORDER = sample("order", status="submitted")
CONFIRMED = sample("order", status="confirmed", confirmed_at="2024-05-01T10:00:00.000Z")
VISIT = sample("visit")
WORK_ORDER = sample("work_order")
NOTE = sample("visit_note")
NOTIFICATION = sample("notification")

ALLOWED = [
    ("new draft order of my own", sample("order", status="draft"), ALICE),
    ("submit my order", sample("order", status="submitted"), ctx(ALICE, parent=ORDER)),
    (
        "offline edit of an order the back office confirmed meanwhile (a conflict branch)",
        sample("order", status="submitted", note="two more"),
        ctx(ALICE, parent=ORDER),
    ),
    (
        "engineer checks in to an assigned visit",
        {**VISIT, "check_in": "2024-05-01T09:00:00.000Z", "status": "in_progress"},
        ctx(BOB, parent=VISIT),
    ),
    (
        "engineer creates an unplanned visit for a visible account",
        sample("visit", **{"_id": "visit:unplanned-1"}),
        BOB,
    ),
    ("engineer writes a note on a visible visit", NOTE, BOB),
    (
        "engineer closes a work order",
        {**WORK_ORDER, "status": "done", "resolution": "fixed"},
        ctx(BOB, parent=WORK_ORDER),
    ),
    (
        "rep marks a notification read",
        {**NOTIFICATION, "read": True},
        ctx(ALICE, parent=NOTIFICATION),
    ),
    (
        "an edit whose known parent names me, the current revision too",
        sample("order", status="submitted"),
        ctx(ALICE, parent=ORDER, current=ORDER, generation=2, known_generation=1),
    ),
    (
        "a branch 1000 generations beyond the known parent",
        sample("order", status="draft"),
        ctx(ALICE, current=sample("order", status="draft"), generation=1001, known_generation=1),
    ),
    (
        "a deletion on top of a deleted order",
        {"_id": ORDER["_id"], "_rev": "3-a", "_deleted": True},
        ctx(ALICE, deleted=True),
    ),
    (
        "rep deletes a draft order",
        {"_id": ORDER["_id"], "_rev": "1-a", "_deleted": True},
        ctx(ALICE, parent=sample("order", status="draft")),
    ),
]

REFUSED = [
    ("forged owner", sample("order", rep_id="mallory"), ALICE, "rep_id must be your own"),
    (
        "a rep confirming an order",
        sample("order", status="confirmed"),
        ALICE,
        "set by the back office",
    ),
    (
        "a rep setting confirmed quantities",
        sample("order", lines=[sample_order_line(confirmed_qty=1)]),
        ALICE,
        "confirmed_qty",
    ),
    (
        "editing another rep's order",
        sample("order"),
        ctx(ALICE, parent=sample("order", rep_id="carol")),
        "another rep",
    ),
    (
        "a submitted order back to draft",
        sample("order", status="draft"),
        ctx(ALICE, parent=ORDER, parent_is_current=True),
        "cannot go back",
    ),
    (
        "editing a confirmed order",
        {**CONFIRMED, "note": "changed"},
        ctx(ALICE, parent=CONFIRMED),
        "set by the back office",
    ),
    ("a product", sample("product"), ALICE, "read-only"),
    ("an account", sample("account"), ALICE, "read-only"),
    ("an invalid order", {**ORDER, "lines": [{"line_id": "x"}]}, ALICE, "invalid document"),
    ("a document of no known type", {"_id": "user:alice", "type": "user"}, ALICE, "invalid"),
    ("a visit assigned to someone else", VISIT, ctx(ALICE, parent=VISIT), "assigned to you"),
    (
        "rescheduling a visit from the device",
        {**VISIT, "scheduled_start": "2024-06-01T09:00:00.000Z"},
        ctx(BOB, parent=VISIT),
        "scheduled_start",
    ),
    (
        "cancelling a visit from the device",
        {**VISIT, "status": "cancelled"},
        ctx(BOB, parent=VISIT),
        "set by a manager",
    ),
    (
        "an unplanned visit for an account the engineer cannot see",
        sample("visit", account_id="account:elsewhere"),
        ctx(BOB, visible=frozenset()),
        "not one of your accounts",
    ),
    (
        "a note signed by someone else",
        sample("visit_note", author_id="carol"),
        BOB,
        "author_id must be",
    ),
    ("a note on an invisible visit", NOTE, ctx(BOB, visible=frozenset()), "not one of your"),
    ("creating a work order", WORK_ORDER, BOB, "created by managers"),
    (
        "changing a work order's priority",
        {**WORK_ORDER, "priority": "urgent"},
        ctx(BOB, parent=WORK_ORDER),
        "priority",
    ),
    (
        "rewriting a notification",
        {**NOTIFICATION, "title": "hacked"},
        ctx(ALICE, parent=NOTIFICATION),
        "only mark",
    ),
    (
        "someone else's notification",
        {**NOTIFICATION, "read": True},
        ctx(BOB, parent=NOTIFICATION),
        "someone else's",
    ),
    (
        "deleting a submitted order",
        {"_id": ORDER["_id"], "_rev": "1-a", "_deleted": True},
        ctx(ALICE, parent=ORDER),
        "only draft orders",
    ),
    (
        "deleting a product",
        {"_id": "product:SKU-1", "_rev": "1-a", "_deleted": True},
        ctx(ALICE, parent=sample("product")),
        "cannot be deleted",
    ),
    (
        "rule 2: a generation far beyond the known one",
        sample("order", status="draft"),
        ctx(ALICE, current=sample("order", status="draft"), generation=1002, known_generation=1),
        "far beyond",
    ),
    (
        "rule 2: a new document at generation 999999999",
        sample("order", status="draft"),
        ctx(ALICE, generation=999_999_999),
        "never seen",
    ),
    (
        "rule 3: my copy of another rep's order id (the current revision is carol's)",
        sample("order", status="draft"),
        ctx(ALICE, current=sample("order", rep_id="carol")),
        "belongs to another rep",
    ),
    (
        "rule 3: an old revision of mine, but the visit was reassigned since",
        {**VISIT, "assignee_id": "bob", "status": "in_progress"},
        ctx(BOB, parent={**VISIT, "assignee_id": "bob"}, current={**VISIT, "assignee_id": "erin"}),
        "assigned to someone else now",
    ),
    (
        "rule 3: deleting a note whose current revision someone else wrote",
        {"_id": NOTE["_id"], "_rev": "2-a", "_deleted": True},
        ctx(BOB, parent={**NOTE, "author_id": "bob"}, current={**NOTE, "author_id": "erin"}),
        "written by someone else",
    ),
    (
        "rule 4: a live revision of a deleted order",
        sample("order", status="draft"),
        ctx(ALICE, parent=sample("order", status="draft"), deleted=True),
        "stays deleted",
    ),
    (
        "a manager writing through the gateway",
        sample("order"),
        WriteContext("alice", "manager"),
        "REST API",
    ),
]


@pytest.mark.parametrize(("case", "doc", "context"), ALLOWED, ids=[c[0] for c in ALLOWED])
def test_allowed(case: str, doc: dict[str, Any], context: WriteContext) -> None:
    assert check_write(doc, context) is None


@pytest.mark.parametrize(("case", "doc", "context", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(case: str, doc: dict[str, Any], context: WriteContext, reason: str) -> None:
    result = check_write(doc, context)
    assert result is not None, f"{case} was allowed"
    assert reason in result
