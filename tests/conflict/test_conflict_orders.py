"""Order merges, one rule per test, with the revision trees drawn above the leaves."""

from __future__ import annotations

from typing import Any

import pytest
from conflict_builders import T0, T1, T2, T3, leaf, line, order

from conflict import RESOLVER_ID, UnmergeableError, merge, merge_orders


def lines_by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {ln["line_id"]: ln for ln in body["lines"]}


def whats(result: Any) -> list[str]:
    return [o.what for o in result.overridden]


# Same rep, two devices, offline:
#
#   1-a ── 2-phone   (l1 qty 3 at T1)
#      └── 2-tablet  (l2 added at T2)
def test_lines_from_both_devices_are_kept() -> None:
    phone = leaf("2-phone", order(T1, [line("l1", T1, qty=3)]), parents=("1-a",))
    tablet = leaf("2-tablet", order(T2, [line("l1", T0), line("l2", T2, qty=2)]), parents=("1-a",))
    result = merge_orders([phone, tablet])
    got = lines_by_id(result.body)
    assert got["l1"]["qty"] == 3  # the later edit of l1 (T1 > T0)
    assert got["l2"]["qty"] == 2
    assert result.body["total"] == "50.00"
    assert result.body["updated_at"] == T2
    assert result.body["updated_by"] == RESOLVER_ID
    assert result.strategy == "order-merge"
    # The phone's l1 won; the tablet's stale copy of l1 is reported as lost.
    assert whats(result) == ["lines[l1]"]


# (line versions on two leaves, expected merged line fields)
#   1-a ── 2-x
#      └── 2-y
LINE_CASES = [
    pytest.param(
        line("l1", T1, deleted=True), line("l1", T0, qty=9), {"deleted": True}, id="stale-copy"
    ),
    pytest.param(
        line("l1", T1, deleted=True),
        line("l1", T2, qty=9),
        {"deleted": False, "qty": 9},
        id="later-edit-revives",
    ),
    pytest.param(
        line("l1", T1, deleted=True), line("l1", T1, qty=9), {"deleted": True}, id="tie-deletes"
    ),
    pytest.param(line("l1", T1, qty=4), line("l1", T1, qty=5), {"qty": 5}, id="tie-higher-rev"),
]


@pytest.mark.parametrize(("x_line", "y_line", "expected"), LINE_CASES)
def test_line_merge(
    x_line: dict[str, Any], y_line: dict[str, Any], expected: dict[str, Any]
) -> None:
    x = leaf("2-x", order(T1, [x_line]), parents=("1-a",))
    y = leaf("2-y", order(T1, [y_line]), parents=("1-a",))
    result = merge_orders([x, y])
    merged = lines_by_id(result.body)["l1"]
    for key, value in expected.items():
        assert merged[key] == value
    assert len(result.body["lines"]) == 1  # a tombstone stays in the order
    assert whats(result) == ["lines[l1]"]  # the other version is on record


#   1-a (l1, l2) ── 2-x (l2 dropped from the list at T2)
#               └── 2-y (l1 qty 7 at T1)
def test_line_dropped_with_ancestor_becomes_tombstone() -> None:
    ancestor = order(T0, [line("l1", T0), line("l2", T0)])
    x = leaf("2-x", order(T2, [line("l1", T0)]), parents=("1-a",))
    y = leaf("2-y", order(T1, [line("l1", T1, qty=7), line("l2", T0)]), parents=("1-a",))
    result = merge_orders([x, y], ancestor)
    got = lines_by_id(result.body)
    assert got["l1"]["qty"] == 7
    assert got["l2"]["deleted"] is True and got["l2"]["updated_at"] == T2
    assert result.body["total"] == "70.00"
    assert result.overridden == []  # y did not touch l2; x did not touch l1


# (statuses of two leaves, merged status, whether a status loss is on record)
@pytest.mark.parametrize(
    ("one", "two", "merged", "recorded"),
    [
        ("draft", "submitted", "submitted", False),
        ("submitted", "confirmed", "confirmed", False),
        ("shipped", "confirmed", "shipped", False),
        ("invoiced", "shipped", "invoiced", False),
        ("submitted", "cancelled", "cancelled", False),
        ("shipped", "cancelled", "cancelled", True),
        ("cancelled", "rejected", "rejected", True),
        ("confirmed", "rejected", "rejected", True),
    ],
)
def test_status_only_moves_forward(one: str, two: str, merged: str, recorded: bool) -> None:
    for rev_one, rev_two in (("2-a", "2-b"), ("2-b", "2-a")):  # whichever rev is higher
        x = leaf(rev_one, order(T1, [], status=one))
        y = leaf(rev_two, order(T2, [], status=two))
        result = merge_orders([x, y])
        assert result.body["status"] == merged
        assert ("status" in whats(result)) == recorded


# The back office confirms while the rep, offline, still edits:
#
#   1-a ── 2-b (submitted) ── 3-bo  (confirmed at T2: l1 confirmed_qty 2, price 9.00)
#                         └── 3-rep (rep at T3: l1 qty 5, price 11.00, note, new line l2)
def test_back_office_fields_win_over_rep_edit() -> None:
    base = [line("l1", T0, qty=4)]
    ancestor = order(T1, base, status="submitted", submitted_at=T1)
    bo = leaf(
        "3-bo",
        order(
            T2,
            [line("l1", T2, qty=4, confirmed_qty=2, unit_price="9.00")],
            status="confirmed",
            submitted_at=T1,
            confirmed_at=T2,
            updated_by="backoffice1",
        ),
        parents=("2-b", "1-a"),
    )
    rep = leaf(
        "3-rep",
        order(
            T3,
            [line("l1", T3, qty=5, unit_price="11.00"), line("l2", T3, qty=1)],
            status="submitted",
            submitted_at=T1,
            note="ring the bell",
        ),
        parents=("2-b", "1-a"),
    )
    for anc in (ancestor, None):
        result = merge_orders([rep, bo], anc)
        body = result.body
        got = lines_by_id(body)
        assert body["status"] == "confirmed"
        assert body["confirmed_at"] == T2
        assert body["note"] == "ring the bell"
        assert got["l1"]["qty"] == 5  # the rep's later edit of the line
        assert got["l1"]["confirmed_qty"] == 2  # the back office's
        assert got["l1"]["unit_price"] == "9.00"  # past submitted: the back office's price
        assert got["l2"]["qty"] == 1
        assert body["total"] == "28.00"  # 2 * 9.00 + 1 * 10.00
        lost = {o.what: o for o in result.overridden}
        assert lost["lines[l1].unit_price"].lost_value == "11.00"
        assert lost["lines[l1].unit_price"].user_id == "rep1"
        assert "rep1" in result.user_ids


# A confirmation is no edit of the line, so a rep's edit wins over it even when the rep's
# device stamped it earlier (its clock is behind the phone that created the line):
#
#   1-a ── 2-b (submitted; l1 stamped T2 by a phone ahead) ── 3-bo  (confirmed: confirmed_qty 4)
#                                                         └── 3-rep (a tablet behind: qty 6 at T0)
def test_a_confirmation_does_not_outvote_an_earlier_stamped_rep_edit() -> None:
    ancestor = order(T2, [line("l1", T2, qty=4)], status="submitted", submitted_at=T2)
    confirmed = [line("l1", T2, qty=4, confirmed_qty=4)]
    bo = leaf("3-bo", order(T3, confirmed, status="confirmed", submitted_at=T2, confirmed_at=T3,
                            updated_by="backoffice1"), parents=("2-b", "1-a"))  # fmt: skip
    rep = leaf("3-rep", order(T0, [line("l1", T0, qty=6)], status="submitted", submitted_at=T2),
               parents=("2-b", "1-a"))  # fmt: skip
    result = merge_orders([rep, bo], ancestor)
    (merged,) = result.body["lines"]
    assert (merged["qty"], merged["confirmed_qty"]) == (6, 4)
    assert result.body["status"] == "confirmed" and result.overridden == []
    # without the ancestor nobody can tell who changed what: the later stamp wins, on record
    blind = merge_orders([rep, bo])
    assert lines_by_id(blind.body)["l1"]["qty"] == 4 and whats(blind) == ["lines[l1]"]


def test_submitted_at_earliest_and_rejection_reason_kept() -> None:
    x = leaf("2-x", order(T2, [], status="submitted", submitted_at=T2))
    y = leaf(
        "2-y",
        order(T1, [], status="rejected", submitted_at=T1, rejection_reason="no stock"),
    )
    result = merge_orders([x, y])
    assert result.body["submitted_at"] == T1
    assert result.body["status"] == "rejected"
    assert result.body["rejection_reason"] == "no stock"


# Plain fields: three-way with the ancestor, last writer without.
#   1-a (note "n0", account a1) ── 2-x (T2: account a2)
#                               └── 2-y (T1: note "n1")
def test_plain_fields_three_way_and_last_writer() -> None:
    ancestor = order(T0, [], note="n0")
    x = leaf("2-x", order(T2, [], note="n0", account_id="account:a2"), parents=("1-a",))
    y = leaf("2-y", order(T1, [], note="n1"), parents=("1-a",))
    with_ancestor = merge_orders([x, y], ancestor)
    assert with_ancestor.body["note"] == "n1"
    assert with_ancestor.body["account_id"] == "account:a2"
    assert with_ancestor.overridden == []
    without = merge_orders([x, y])
    assert without.body["note"] == "n0"  # x is the last writer
    # Without the ancestor every differing value of the loser is on record.
    assert [(o.what, o.lost_value) for o in without.overridden] == [
        ("account_id", "account:a1"),
        ("note", "n1"),
    ]


# Deletions:
#   1-a ── 2-del (deleted on one device)
#      └── 2-edit (edited on another)
def test_live_edit_beats_deletion() -> None:
    dead = leaf("2-z", {"updated_by": "rep1"}, deleted=True)
    live = leaf("2-b", order(T1, [line("l1", T1)]))
    result = merge([dead, live])
    assert result.strategy == "single-live-leaf"
    assert result.deleted is False
    assert result.body["lines"][0]["line_id"] == "l1"
    assert [(o.what, o.lost_value) for o in result.overridden] == [("_deleted", True)]


def test_all_deleted_stays_deleted() -> None:
    result = merge([leaf("2-a", deleted=True), leaf("3-b", deleted=True)])
    assert result.deleted is True
    assert result.body == {"_id": "order:o1"}


def test_bad_amount_is_an_unmergeable_error() -> None:
    x = leaf("2-x", order(T1, [line("l1", T1, unit_price="abc")]))
    y = leaf("2-y", order(T2, [line("l2", T2)]))
    with pytest.raises(UnmergeableError):
        merge_orders([x, y])
