"""Line-based text merges that never drop what someone typed.

Texts are split on ``"\\n"`` (so a trailing newline is an empty last line and joins back
exactly; a ``"\\r"`` of a CRLF text stays at the end of its line).

:func:`merge_many` (and :func:`merge3`, its two-sided case) is an N-way diff3 against the
common ancestor. Each side is aligned with the ancestor (:mod:`difflib`, no junk heuristic),
which says, for every ancestor line, whether that side kept it, and for every *gap* (before
ancestor line ``i``, or after the last), which lines that side inserted there (a changed line
is its deletion plus an insertion in the gap before it). The merge applies every side's edits
at once, all against the ancestor:

- an ancestor line stays only when every side kept it: a deletion by any side wins over the
  sides that left the line alone (and a changed line is a deletion plus the new text, so the
  new text is what stays);
- in each gap, what the sides inserted there: equal insertions once; an insertion that already
  appears as a block inside another side's insertion at that gap is not repeated; otherwise
  (a *clash*) each side's lines, in the order the sides were given.

So every line a side inserted is in the result, every ancestor line a side deleted is gone,
and a side identical to the ancestor changes nothing (``merge3(a, b, a) == b``). All sides are
merged against the ancestor at once, so with three or more sides nothing depends on a fold.
What this cannot give is idempotence through a lossy alignment: merging a merged text ``M``
again with one of its inputs against the *old* ancestor may align repeated lines differently
(``"ok"`` inserted by one side and ``"ok"`` kept from the ancestor look the same). The
resolver avoids that by merging against the better base, the branch ``M`` absorbed
(:func:`conflict.ancestry.merge_base`), where the input is unchanged and the merge is ``M``.

:func:`keep_all` is the merge without an ancestor: distinct texts, in the given order, joined by
:data:`SEPARATOR` on a line of its own with a blank line either side, in the texts' own line
ending (CRLF when every text that has a line break uses CRLF); a text whose lines already
appear as a block inside another kept text is not repeated.

:func:`fit` cuts a merged text that would exceed a length bound at a line boundary and says
what was cut (the visit note merge puts that in the conflict record; see
:mod:`conflict.visit_notes`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

#: The line that separates two versions of a text kept side by side.
SEPARATOR = "------ merged: another version of this text ------"

_TRAILING_BREAKS = re.compile(r"(?:\r?\n)+\Z")
_NEAR = 2_000  # how far back fit() looks for a line break, then a space, to cut at


@dataclass(frozen=True)
class TextMerge:
    text: str
    clashes: int  # gaps where sides inserted different lines (all kept)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def contains_block(big: Sequence[str], small: Sequence[str]) -> bool:
    """Whether ``small`` appears as consecutive lines of ``big`` (an empty block always does)."""
    n = len(small)
    if n == 0:
        return True
    return any(list(big[i : i + n]) == list(small) for i in range(len(big) - n + 1))


@dataclass(frozen=True)
class _Alignment:
    kept: list[bool]  # per ancestor line
    inserted: list[list[str]]  # per gap: len(ancestor) + 1


def _align(base: Sequence[str], side: Sequence[str]) -> _Alignment:
    kept = [True] * len(base)
    inserted: list[list[str]] = [[] for _ in range(len(base) + 1)]
    matcher = SequenceMatcher(None, base, side, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        for i in range(i1, i2):
            kept[i] = False
        inserted[i1] += side[j1:j2]
    return _Alignment(kept, inserted)


def _union_of_blocks(blocks: Sequence[list[str]]) -> tuple[list[str], bool]:
    """The lines of every block, a block inside another not repeated; whether it clashed."""
    distinct: list[list[str]] = []
    for block in blocks:
        if block and block not in distinct:
            distinct.append(block)
    biggest_first = sorted(range(len(distinct)), key=lambda i: (-len(distinct[i]), i))
    kept: list[int] = []
    for i in biggest_first:
        if not any(contains_block(distinct[k], distinct[i]) for k in kept):
            kept.append(i)
    out: list[str] = []
    for i in sorted(kept):
        out += distinct[i]
    return out, len(kept) > 1


def _merge_lines(base: Sequence[str], sides: Sequence[Sequence[str]]) -> tuple[list[str], int]:
    alignments = [_align(base, side) for side in sides]
    out: list[str] = []
    clashes = 0
    for gap in range(len(base) + 1):
        lines, clashed = _union_of_blocks([a.inserted[gap] for a in alignments])
        out += lines
        clashes += clashed
        if gap < len(base) and all(a.kept[gap] for a in alignments):
            out.append(base[gap])
    return out, clashes


def merge3(ancestor: str, first: str, second: str) -> TextMerge:
    """Three-way merge of two descendants of ``ancestor``; a clash keeps ``first``, then
    ``second``."""
    return merge_many(ancestor, [first, second])


def merge_many(ancestor: str, texts: Sequence[str]) -> TextMerge:
    """N-way merge of ``texts`` (descendants of ``ancestor``); clashes keep the given order."""
    if not texts:
        return TextMerge(ancestor, 0)
    lines, clashes = _merge_lines(_lines(ancestor), [_lines(t) for t in texts])
    return TextMerge("\n".join(lines), clashes)


def line_ending(texts: Sequence[str]) -> str:
    """``"\\r\\n"`` when every text with a line break breaks its lines with CRLF, else ``"\\n"``."""
    broken = [t for t in texts if "\n" in t]
    if broken and all(t.count("\n") == t.count("\r\n") for t in broken):
        return "\r\n"
    return "\n"


def _without_trailing_breaks(text: str) -> str:
    return _TRAILING_BREAKS.sub("", text)


def keep_all(texts: Sequence[str]) -> str:
    """All distinct texts in order, separated by :data:`SEPARATOR`; none dropped.

    Texts are considered largest first; one whose lines already appear as a block inside a text
    kept before it is not repeated. The kept texts come out in the given order.
    """
    distinct: list[str] = []
    for text in texts:
        if text not in distinct:
            distinct.append(text)
    trimmed = [_without_trailing_breaks(t) for t in distinct]
    blocks = [_lines(t) for t in trimmed]
    biggest_first = sorted(
        range(len(distinct)), key=lambda i: (-len(blocks[i]), -len(distinct[i]), i)
    )
    kept: list[int] = []
    for i in biggest_first:
        if not trimmed[i].strip("\r\n"):
            continue
        if not any(contains_block(_lines(distinct[k]), blocks[i]) for k in kept):
            kept.append(i)
    if not kept:
        return max(distinct, key=lambda t: (len(t), t), default="")
    if len(kept) == 1:
        return distinct[kept[0]]
    nl = line_ending([distinct[i] for i in kept])
    return f"{nl}{nl}{SEPARATOR}{nl}{nl}".join(trimmed[i] for i in sorted(kept))


def overflow_marker(cut: int) -> str:
    """The last line of a text :func:`fit` had to cut (``cut``: characters moved out)."""
    return f"------ merged: {cut} more characters are in the conflict record ------"


def fit(text: str, limit: int) -> tuple[str, str]:
    """``(kept, rest)``: ``text`` itself and ``""`` when it is within ``limit`` characters;
    otherwise its head, cut after a line break (or a space) near the bound and ended by
    :func:`overflow_marker` on a line of its own, within ``limit``, and the rest: the head and
    the rest joined are ``text``."""
    if len(text) <= limit:
        return text, ""
    nl = line_ending([text])
    # the marker's number has at most as many digits as the text's length
    room = limit - len(overflow_marker(len(text))) - len(nl)
    head = text[:room]
    # whole lines when a line break is near; else whole words; else exactly at the bound
    cut_at = head.rfind("\n") + 1
    if room - cut_at > _NEAR:
        cut_at = max(head.rfind(" "), head.rfind("\t")) + 1
    if room - cut_at > _NEAR:
        cut_at = room
        if text[cut_at - 1 : cut_at + 1] == "\r\n":
            cut_at -= 1  # do not split a CRLF
    kept, rest = text[:cut_at], text[cut_at:]
    sep = "" if kept.endswith("\n") or not kept else nl
    return f"{kept}{sep}{overflow_marker(len(rest))}", rest
