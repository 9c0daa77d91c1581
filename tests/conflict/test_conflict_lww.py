"""Last writer wins for every other type; dispatch by type."""

from __future__ import annotations

from typing import Any

import pytest
from conflict_builders import T1, T2, leaf

from conflict import MixedDocumentsError, NoLeavesError, merge, merge_last_writer


def visit(updated_at: str, status: str, by: str) -> dict[str, Any]:
    return {
        "type": "visit",
        "status": status,
        "assignee_id": "eng1",
        "updated_at": updated_at,
        "updated_by": by,
    }


# (leaf A, leaf B, winner)   1-a ── 2-x / 2-y
@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        (("2-x", T1), ("2-y", T2), "2-y"),  # later updated_at
        (("2-y", T1), ("2-x", T2), "2-x"),  # later updated_at beats higher revision
        (("2-x", T1), ("2-y", T1), "2-y"),  # tie: higher revision
        (("3-a", T1), ("2-z", T1), "3-a"),  # tie: higher generation
    ],
)
def test_last_writer_wins(a: tuple[str, str], b: tuple[str, str], winner: str) -> None:
    one = leaf(a[0], visit(a[1], "in_progress", "eng1"), doc_id="visit:v1")
    two = leaf(b[0], visit(b[1], "done", "mgr1"), doc_id="visit:v1")
    result = merge([one, two])
    expected = one if winner == one.rev else two
    loser = two if expected is one else one
    assert result.strategy == "last-writer"
    assert result.body["status"] == expected.body["status"]
    assert result.body["updated_by"] == expected.body["updated_by"]  # its real author
    assert "_rev" not in result.body and "_revisions" not in result.body
    assert [(o.what, o.lost_value) for o in result.overridden] == [("status", loser.body["status"])]
    assert result.user_ids == [loser.body["updated_by"]]


def test_types_that_disagree_fall_back_to_last_writer() -> None:
    a = leaf("2-x", {"type": "order", "updated_at": T1})
    b = leaf("2-y", {"type": "visit_note", "updated_at": T2})
    assert merge([a, b]).strategy == "last-writer"


def test_errors() -> None:
    with pytest.raises(NoLeavesError):
        merge_last_writer([])
    with pytest.raises(MixedDocumentsError):
        merge([leaf("2-x", doc_id="a"), leaf("2-y", doc_id="b")])
