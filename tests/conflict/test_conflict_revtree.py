"""Revision ids, CouchDB's winner rule, histories and common ancestors."""

from __future__ import annotations

import pytest
from conflict_builders import leaf

from conflict import InvalidRevisionError, NoLeavesError, common_ancestor, winning_rev
from conflict.revtree import history, parse_rev, rev_generation


@pytest.mark.parametrize(
    ("rev", "parsed"),
    [("1-a", (1, "a")), ("12-0f3c", (12, "0f3c")), ("3-abc-def", (3, "abc-def"))],
)
def test_parse_rev(rev: str, parsed: tuple[int, str]) -> None:
    assert parse_rev(rev) == parsed
    assert rev_generation(rev) == parsed[0]


@pytest.mark.parametrize("rev", ["", "abc", "0-a", "-a", "1-", "x-a", "1a"])
def test_parse_rev_rejects(rev: str) -> None:
    with pytest.raises(InvalidRevisionError):
        parse_rev(rev)


# Each case: leaves as (rev, deleted) and the winner CouchDB shows.
#
#   1-a ── 2-b ── 3-c          live leaves 3-c and 2-x: the higher generation wins
#       └─ 2-x
#
#   1-a ── 2-b ── 3-c (deleted) live 2-x beats a deleted leaf of any generation
#       └─ 2-x
#
#   1-a ── 2-b / 2-c            same generation: the higher hash (string order)
@pytest.mark.parametrize(
    ("leaves", "winner"),
    [
        ([("3-c", False), ("2-x", False)], "3-c"),
        ([("3-c", True), ("2-x", False)], "2-x"),
        ([("2-b", False), ("2-c", False)], "2-c"),
        ([("2-c", False), ("2-b", False)], "2-c"),
        ([("4-a", True), ("5-b", True)], "5-b"),
        ([("10-a", False), ("9-z", False)], "10-a"),  # numeric generation, not string order
    ],
)
def test_winning_rev(leaves: list[tuple[str, bool]], winner: str) -> None:
    assert winning_rev([leaf(r, deleted=d) for r, d in leaves]) == winner


def test_winning_rev_needs_leaves() -> None:
    with pytest.raises(NoLeavesError):
        winning_rev([])


def test_history_expands_revisions() -> None:
    assert history("3-c", {"start": 3, "ids": ["c", "b", "a"]}) == ("3-c", "2-b", "1-a")
    # Without (or with inconsistent) _revisions the history is the leaf alone.
    assert history("3-c", None) == ("3-c",)
    assert history("3-c", {"start": 4, "ids": ["d", "c"]}) == ("3-c",)


#   1-a ── 2-b ── 3-c ── 4-d
#              └─ 3-x
#   common ancestor of 4-d and 3-x: 2-b
#
#   stemmed: 4-d knows only 4-d, 3-c; 3-x knows 3-x, 2-b → nothing shared
@pytest.mark.parametrize(
    ("histories", "expected"),
    [
        ([("4-d", "3-c", "2-b", "1-a"), ("3-x", "2-b", "1-a")], "2-b"),
        ([("4-d", "3-c"), ("3-x", "2-b")], None),
        ([("2-p", "1-a"), ("2-q", "1-a"), ("3-r", "2-s", "1-a")], "1-a"),
        ([], None),
    ],
)
def test_common_ancestor(histories: list[tuple[str, ...]], expected: str | None) -> None:
    assert common_ancestor(histories) == expected


def test_leaf_history_from_body() -> None:
    one = leaf("4-d", parents=("3-c", "2-b", "1-a"))
    two = leaf("3-x", parents=("2-b", "1-a"))
    assert common_ancestor([one.history, two.history]) == "2-b"
