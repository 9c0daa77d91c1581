"""The merges that lost or garbled what people typed (issue 13) and the merges a device could
use to take what is not its own (issue 12), one table row each, shrunk to the smallest case.

Each row is (leaves, ancestor) -> what the merge must give; ``validate_document`` holds on
every merged body. Revision trees are drawn above the rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conflict_builders import T0, T1, T2, T3, leaf, line, note

from conflict import Leaf, merge, tombstone_rev
from conflict.ancestry import merge_base
from conflict.fallback import safe_plan
from conflict.records import conflict_record
from conflict.textmerge import SEPARATOR, keep_all, merge3, merge_many
from mobile_schema import sample, sample_order_v1, validate_document
from mobile_schema.fields import MAX_TEXT

Check = Callable[[Any], None]


def order_v2(updated_at: str, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    fields = {"_id": "order:o1", "rep_id": "rep1", "updated_by": "rep1", **fields}
    return sample("order", updated_at=updated_at, lines=lines, **fields)


def note_leaf(rev: str, text: str, at: str, parents: tuple[str, ...] = (), **kw: Any) -> Leaf:
    return leaf(rev, note(at, text, **kw), parents=parents, doc_id="visit_note:n1")


# -- text merges (conflict/textmerge.py) ----------------------------------------------------

# (ancestor, sides, merged): 2. a deletion beside the other side's insertion; 3. with three or
# more sides no typed line is lost (no fold against the old ancestor).
TEXT_CASES = [
    pytest.param("x\ny", ["x\ny\nnew", "x"], "x\nnew", id="2-deletion-beside-insertion"),
    pytest.param(
        "Pump checked\nValve leaking",
        ["Pump checked\nValve leaking\nCustomer wants a quote", "Pump checked"],
        "Pump checked\nCustomer wants a quote",
        id="2-visit-note",
    ),
    pytest.param("b", ["b\nb", "a", ""], "a\n\nb", id="3-three-sides-keep-the-added-b"),
]


@pytest.mark.parametrize(("ancestor", "sides", "merged"), TEXT_CASES)
def test_text_merge_rows(ancestor: str, sides: list[str], merged: str) -> None:
    assert merge_many(ancestor, sides).text == merged
    if len(sides) == 2:
        assert merge3(ancestor, *sides).text == merged


def test_8_crlf_texts_kept_side_by_side_stay_crlf() -> None:
    text = keep_all(["pump\r\n", "valve\r\n"])
    assert text == f"pump\r\n\r\n{SEPARATOR}\r\n\r\nvalve"
    assert "\n" not in text.replace("\r\n", "") and "\r" not in text.replace("\r\n", "")


# 4. A device kept editing the branch that lost:
#
#   1-base "ok" ── 2-a "ok\nok" ── 3-tomb (deleted by the resolver, tombstone_rev(2-a, 3-m))
#              │              └── 3-a2 "ok\nok"   (the device re-sent its text, a child of 2-a)
#              └── 2-b "done" ── 3-m "done\nok"   (the merge of 2-a and 2-b)
def test_4_remerging_a_merged_note_with_a_branch_it_absorbed_changes_nothing() -> None:
    first = merge([note_leaf("2-a", "ok\nok", T1, ("1-base",)),
                   note_leaf("2-b", "done", T2, ("1-base",))], note(T0, "ok"))  # fmt: skip
    assert first.body["text"] == "done\nok"
    merged_rev = "3-" + "m" * 32
    tomb = leaf(tombstone_rev("2-a", merged_rev), parents=("2-a", "1-base"), deleted=True,
                doc_id="visit_note:n1")  # fmt: skip
    m = leaf(merged_rev, {**first.body}, parents=("2-b", "1-base"), doc_id="visit_note:n1")
    a2 = note_leaf("3-a2", "ok\nok", T3, ("2-a", "1-base"))
    leaves = [m, a2, tomb]
    assert merge_base(leaves) == "2-a"  # not 1-base: 3-m already holds 2-a
    again = merge(leaves, note(T1, "ok\nok"))
    assert again.body["text"] == "done\nok"
    # against the old ancestor a text merge cannot tell the two "ok" apart
    assert merge(leaves, note(T0, "ok")).body["text"] == "done\nok\nok"


# 5. Two long notes without the ancestor: every word is in the note or its record.
def test_5_two_long_notes_fit_the_limit_and_the_rest_is_on_record() -> None:
    one = "\n".join(f"first {i:05d} " + "x" * 100 for i in range(110))
    two = "\n".join(f"second {i:05d} " + "y" * 100 for i in range(110))
    assert len(one) > 12_000 and len(two) > 12_000
    result = merge([note_leaf("2-a", one, T1), note_leaf("2-b", two, T2)])
    text = result.body["text"]
    assert len(text) <= MAX_TEXT
    validate_document(result.body)
    (cut,) = [o for o in result.overridden if o.what == "text"]
    head = text.rsplit("\n", 1)[0] + "\n"  # without the marker line
    assert head + cut.lost_value == keep_all([one, two])
    assert cut.user_id == "eng1" and result.user_ids == ["eng1"]


# -- orders ---------------------------------------------------------------------------------


# 1. An old app (schema 1) edits while the back office (schema 2) confirms:
#
#   1-base (v1: l1 qty 2, price 10, discount 0.1) ── 2-rep (v1: qty 3)
#                                                 └── 2-bo  (v2: confirmed, confirmed_qty 2)
def test_1_v1_and_v2_orders_are_merged_as_v2() -> None:
    v1_line = {"line_id": "l1", "sku": "SKU-1", "qty": 2, "price": 10, "discount": 0.1,
               "deleted": False, "updated_at": T0}  # fmt: skip
    base = sample_order_v1(_id="order:o1", rep_id="rep1", lines=[v1_line], updated_at=T0,
                           updated_by="rep1", status="submitted")  # fmt: skip
    rep = {**base, "lines": [{**v1_line, "qty": 3, "updated_at": T2}], "updated_at": T2}
    bo_line = line("l1", T0, qty=2, unit_price="10.00", discount_pct=10, confirmed_qty=2)
    bo = order_v2(T1, [bo_line], status="confirmed", confirmed_at=T1, updated_by="bo1")
    result = merge([leaf("2-rep", rep, parents=("1-base",)),
                    leaf("2-bo", bo, parents=("1-base",))], base)  # fmt: skip
    body = result.body
    validate_document(body)
    assert body["schema_version"] == 2
    (merged,) = body["lines"]
    assert (merged["qty"], merged["confirmed_qty"], merged["discount_pct"]) == (3, 2, 10)
    assert body["total"] == "18.00"  # 2 confirmed x 10.00 less 10 %
    # two v1 leaves: a valid v2 order with the real total
    other = {**base, "lines": [{**v1_line, "price": 12.5}], "updated_at": T1}
    both = merge([leaf("2-rep", rep), leaf("2-x", other)])
    validate_document(both.body)
    assert both.body["schema_version"] == 2 and both.body["total"] == "27.00"


# 6. Two office leaves confirm different quantities of a line the ancestor had unconfirmed.
def test_6_diverging_confirmed_qty_is_on_record() -> None:
    base = order_v2(T0, [line("l1", T0, qty=2)], status="submitted")
    one = order_v2(T1, [line("l1", T0, qty=2, confirmed_qty=1)], status="confirmed",
                   confirmed_at=T1, updated_by="bo1")  # fmt: skip
    two = order_v2(T2, [line("l1", T0, qty=2, confirmed_qty=0)], status="confirmed",
                   confirmed_at=T1, updated_by="bo2")  # fmt: skip
    result = merge([leaf("2-a", one), leaf("2-b", two)], base)
    assert result.body["lines"][0]["confirmed_qty"] == 0  # the later office decision
    lost = [(o.what, o.lost_value, o.user_id) for o in result.overridden]
    assert lost == [("lines[l1].confirmed_qty", 1, "bo1")]
    assert result.user_ids == ["bo1"]


# 7. A rep deleted the order on one device and edited it on another: the deletion loses and
# the rep (the owner: a deleted leaf holds only _id/_rev/_deleted) is told.
@pytest.mark.parametrize("doc_type", ["order", "visit_note"])
def test_7_an_overridden_deletion_names_the_owner(doc_type: str) -> None:
    if doc_type == "order":
        live = leaf("2-b", order_v2(T1, [line("l1", T1)]))
        owner = "rep1"
    else:
        live = note_leaf("2-b", "text", T1)
        owner = "eng1"
    dead = leaf("2-z", deleted=True, doc_id=live.body["_id"])
    result = merge([dead, live])
    assert [(o.what, o.user_id) for o in result.overridden] == [("_deleted", owner)]
    assert result.user_ids == [owner]


# -- issue 12: what a device's leaf can never take -----------------------------------------


# Rep B writes order:o1 (A's) as a new document: no common ancestor, a later stamp, qty 300.
#   (A)  1-a ── 2-a           (rep_id rep1)
#   (B)  3-b                  (rep_id rep2, updated_at 2030, history unrelated)
def test_a_leaf_of_another_owner_is_not_merged() -> None:
    mine = order_v2(T1, [line("l1", T1, qty=2)])
    theirs = order_v2("2030-01-01T00:00:00.000Z", [line("l1", "2030-01-01T00:00:00.000Z",
                      qty=300)], rep_id="rep2", updated_by="rep2")  # fmt: skip
    ancestor = order_v2(T0, [line("l1", T0, qty=1)])
    result = merge([leaf("2-a", mine, parents=("1-a",)), leaf("1-b", theirs)], ancestor)
    assert result.body["rep_id"] == "rep1" and result.body["lines"][0]["qty"] == 2
    assert "rep2" in result.user_ids  # the other leaf's owner is told it was not taken
    assert {o.what for o in result.overridden} >= {"rep_id", "lines"}


# A rep's leaf cannot change what the office decided, whatever its stamps:
#   1-base (confirmed, account a1, confirmed_qty 2) ── 2-bo (shipped)
#                                                  └── 2-rep (2030: account a2, confirmed_qty 9,
#                                                            rejection_reason, confirmed_at)
def test_office_state_is_not_taken_from_a_rep_leaf() -> None:
    future = "2030-01-01T00:00:00.000Z"
    confirmed = [line("l1", T0, qty=2, confirmed_qty=2)]
    base = order_v2(T0, confirmed, status="confirmed", confirmed_at=T0)
    bo = order_v2(T1, confirmed, status="shipped", confirmed_at=T0, updated_by="bo1")
    rep = order_v2(future, [line("l1", T0, qty=2, confirmed_qty=9)], status="submitted",
                   account_id="account:a2", confirmed_at=future,
                   rejection_reason="rep says no")  # fmt: skip
    result = merge([leaf("2-bo", bo), leaf("2-rep", rep)], base)
    body = result.body
    assert body["status"] == "shipped" and body["account_id"] == base["account_id"]
    assert body["confirmed_at"] == T0 and body["rejection_reason"] is None
    assert body["lines"][0]["confirmed_qty"] == 2
    lost = {o.what for o in result.overridden if o.lost_rev == "2-rep"}
    assert lost >= {"account_id", "confirmed_at", "rejection_reason", "lines[l1].confirmed_qty"}
    validate_document(body)


# A manager reassigned a visit from X to Y; X pushes a later-stamped child of their old one:
#   1-base (assignee x) ── 2-mgr (assignee y)
#                      └── 2-x   (in_progress, updated_at 2030)
def test_a_reassignment_is_not_undone_by_a_later_stamp() -> None:
    base = sample("visit", _id="visit:v1", assignee_id="x", updated_at=T0, updated_by="x")
    mgr = {**base, "assignee_id": "y", "updated_at": T1, "updated_by": "mgr1"}
    dev = {
        **base,
        "status": "in_progress",
        "check_in": T2,
        "updated_at": "2030-01-01T00:00:00.000Z",
    }
    result = merge([leaf("2-mgr", mgr, doc_id="visit:v1"), leaf("2-x", dev, doc_id="visit:v1")],
                   base)  # fmt: skip
    assert result.body["assignee_id"] == "y" and result.body["status"] == base["status"]
    assert "x" in result.user_ids


# The resolver never fails for ever on a leaf it accepted: a generation of 999999999 would make
# the merged child 1000000000-..., no valid revision; the leaf is closed and recorded, the
# shared winner kept.
#   1-a ── 2-a (rep1's order)        999999999-cafe02 (rep1 as owner, qty 200, unrelated)
def test_an_implausible_generation_is_recorded_and_the_shared_winner_kept() -> None:
    mine = leaf("2-a", order_v2(T1, [line("l1", T1, qty=2)]), parents=("1-a",))
    absurd = leaf("999999999-cafe02", order_v2(T2, [line("l1", T2, qty=200)]))
    plan = safe_plan([mine, absurd])
    assert plan.merged_rev == "2-a" and plan.result.strategy == "kept-shared-winner"
    assert [d["_deleted"] for d in plan.docs] == [True]
    assert plan.docs[0]["_rev"].startswith("1000000000-")
    record = conflict_record("order:o1", [mine.rev, absurd.rev], plan, T3)
    assert record["merged_rev"] == "2-a" and record["user_ids"] == ["rep1"]
    assert any(o["what"] == "lines" for o in record["overridden"])
    # with two plausible leaves beside it they are merged and it is closed as well
    other = leaf("2-b", order_v2(T2, [line("l1", T1, qty=2), line("l2", T2)]), parents=("1-a",))
    plan = safe_plan([mine, other, absurd])
    assert plan.merged_rev is not None and plan.merged_rev.startswith("3-")
    assert len(plan.docs) == 3 and plan.result.strategy == "order-merge"


def test_a_merge_that_does_not_validate_keeps_the_shared_winner() -> None:
    # 500 lines on each side, all different: the union would exceed the 500-line bound
    one = order_v2(T1, [line(f"a{i}", T1) for i in range(500)])
    two = order_v2(T2, [line(f"b{i}", T2) for i in range(500)])
    plan = safe_plan([leaf("2-a", one), leaf("2-b", two)])
    assert plan.merged_rev == "2-b" and plan.result.strategy == "kept-shared-winner"
    assert [o.what for o in plan.result.overridden if o.lost_rev == "2-a"] == ["lines"]
    conflict_record("order:o1", ["2-a", "2-b"], plan, T3)  # validates
