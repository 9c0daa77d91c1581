"""Line-based three-way merge and keep-all merge: nothing typed vanishes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conflict.textmerge import SEPARATOR, keep_all, merge3, merge_many

# (ancestor, first, second, merged, clashes)
CASES = [
    # one side changed: take it
    ("a\nb\nc", "a\nB\nc", "a\nb\nc", "a\nB\nc", 0),
    ("a\nb\nc", "a\nb\nc", "a\nb\nC", "a\nb\nC", 0),
    # both changed different places
    ("a\nb\nc", "A\nb\nc", "a\nb\nC", "A\nb\nC", 0),
    # both made the same change
    ("a\nb\nc", "a\nX\nc", "a\nX\nc", "a\nX\nc", 0),
    # both changed the same line differently: both kept, first then second
    ("a\nb\nc", "a\nB1\nc", "a\nB2\nc", "a\nB1\nB2\nc", 1),
    # both appended at the end
    ("a\n", "a\nfirst\n", "a\nsecond\n", "a\nfirst\nsecond\n", 1),
    # one side deleted a line the other kept
    ("a\nb\nc", "a\nc", "a\nb\nc", "a\nc", 0),
    # one side's change already contains the other's: no duplicate
    ("a\nb", "a\nb\nx", "a\nb\nx\ny", "a\nb\nx\ny", 0),
    # from empty
    ("", "hello", "", "hello", 0),
]


@pytest.mark.parametrize(("ancestor", "first", "second", "merged", "clashes"), CASES)
def test_merge3(ancestor: str, first: str, second: str, merged: str, clashes: int) -> None:
    result = merge3(ancestor, first, second)
    assert result.text == merged
    assert result.clashes == clashes


def test_merge_many_folds_in_order() -> None:
    result = merge_many("a\nb\nc", ["A\nb\nc", "a\nB\nc", "a\nb\nC"])
    assert result.text == "A\nB\nC"
    assert merge_many("x", []).text == "x"


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["same", "same"], "same"),
        (["one", "two"], f"one\n\n{SEPARATOR}\n\ntwo"),
        (["two", "one"], f"two\n\n{SEPARATOR}\n\none"),
        (["", "typed"], "typed"),
        (["line1\n", "line1\nline2\n"], "line1\nline2\n"),  # contained: not repeated
        ([f"one\n\n{SEPARATOR}\n\ntwo", "two"], f"one\n\n{SEPARATOR}\n\ntwo"),
        ([], ""),
    ],
)
def test_keep_all(texts: list[str], expected: str) -> None:
    assert keep_all(texts) == expected


lines = st.lists(st.sampled_from(["a", "b", "c", "d", "x", "y", ""]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(lines, lines, lines)
def test_merge3_keeps_every_typed_line(base: list[str], one: list[str], two: list[str]) -> None:
    # A line a side typed (absent from the ancestor) is in the merge.
    merged = merge3("\n".join(base), "\n".join(one), "\n".join(two)).text.split("\n")
    base_lines = "\n".join(base).split("\n")
    for side in (one, two):
        for text in side:
            if text not in base_lines:
                assert text in merged


@settings(max_examples=300, deadline=None)
@given(lines, lines)
def test_merge3_with_itself_and_unchanged_side(base: list[str], one: list[str]) -> None:
    a, b = "\n".join(base), "\n".join(one)
    assert merge3(a, b, b).text == b
    assert merge3(a, b, a).text == b
    assert merge3(a, a, b).text == b


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab\n-", max_size=12), max_size=4))
def test_keep_all_loses_no_text(texts: list[str]) -> None:
    merged = keep_all(texts).split("\n")
    for text in texts:
        block = text.rstrip("\n").split("\n")
        if text.strip("\n"):
            assert any(merged[i : i + len(block)] == block for i in range(len(merged))), text
    # Idempotent: merging the result with any input again changes nothing.
    result = keep_all(texts)
    for text in texts:
        assert keep_all([result, text]) == result
        assert keep_all([text, result]) == result
