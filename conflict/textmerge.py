"""Line-based text merges that never drop what someone typed.

Texts are split on ``"\\n"`` (so a trailing newline is an empty last line and joins back
exactly).

:func:`merge3` is a diff3 three-way merge built on :mod:`difflib`: regions where both sides still
match the ancestor are kept; a region changed on one side only takes that side; a region changed
the same way on both takes it once; a region where both sides replaced the same number of
lines is settled line by line; a region changed differently on both sides (a *clash*)
keeps both: the first side's lines, then the second's — unless one side's lines already appear
as a block inside the other's, which is then taken alone (that keeps a merge of a merged text
with one of its inputs unchanged). Several sides fold left: ``merge3(a, merge3(a, t1, t2), t3)``.

:func:`keep_all` is the merge without an ancestor: distinct texts, in the given order, joined by
:data:`SEPARATOR` on a line of its own with a blank line either side; a text whose lines already
appear as a block inside another kept text is not repeated.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

#: The line that separates two versions of a text kept side by side.
SEPARATOR = "------ merged: another version of this text ------"


@dataclass(frozen=True)
class TextMerge:
    text: str
    clashes: int  # regions changed differently on both sides (both kept)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def contains_block(big: Sequence[str], small: Sequence[str]) -> bool:
    """Whether ``small`` appears as consecutive lines of ``big`` (an empty block always does)."""
    n = len(small)
    if n == 0:
        return True
    return any(list(big[i : i + n]) == list(small) for i in range(len(big) - n + 1))


def _sync_regions(
    base: Sequence[str], a: Sequence[str], b: Sequence[str]
) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Regions ``(base_start, base_end, a_start, a_end, b_start, b_end)`` equal in all three."""
    amatches = SequenceMatcher(None, base, a, autojunk=False).get_matching_blocks()
    bmatches = SequenceMatcher(None, base, b, autojunk=False).get_matching_blocks()
    ia = ib = 0
    while ia < len(amatches) and ib < len(bmatches):
        abase, amatch, alen = amatches[ia]
        bbase, bmatch, blen = bmatches[ib]
        start = max(abase, bbase)
        end = min(abase + alen, bbase + blen)
        if start < end:
            asub = amatch + (start - abase)
            bsub = bmatch + (start - bbase)
            yield (start, end, asub, asub + end - start, bsub, bsub + end - start)
        if abase + alen < bbase + blen:
            ia += 1
        else:
            ib += 1
    yield (len(base), len(base), len(a), len(a), len(b), len(b))


def _merge_lines(base: Sequence[str], a: Sequence[str], b: Sequence[str]) -> tuple[list[str], int]:
    out: list[str] = []
    clashes = 0
    iz = ia = ib = 0
    for zstart, zend, astart, aend, bstart, bend in _sync_regions(base, a, b):
        achunk, bchunk, zchunk = list(a[ia:astart]), list(b[ib:bstart]), list(base[iz:zstart])
        if achunk or bchunk:
            if achunk == bchunk or bchunk == zchunk:
                out += achunk
            elif achunk == zchunk:
                out += bchunk
            elif contains_block(achunk, bchunk):
                out += achunk
            elif contains_block(bchunk, achunk):
                out += bchunk
            elif len(achunk) == len(bchunk) == len(zchunk):
                # Same number of lines on all three sides: neighbouring lines edited on
                # different sides are not a clash; settle line by line.
                for x, y, z in zip(achunk, bchunk, zchunk, strict=True):
                    if x == y or y == z:
                        out.append(x)
                    elif x == z:
                        out.append(y)
                    else:
                        clashes += 1
                        out += [x, y]
            else:
                clashes += 1
                out += achunk + bchunk
        out += base[zstart:zend]
        iz, ia, ib = zend, aend, bend
    return out, clashes


def merge3(ancestor: str, first: str, second: str) -> TextMerge:
    """Three-way merge of two descendants of ``ancestor``; a clash keeps ``first``, then
    ``second``."""
    lines, clashes = _merge_lines(_lines(ancestor), _lines(first), _lines(second))
    return TextMerge("\n".join(lines), clashes)


def merge_many(ancestor: str, texts: Sequence[str]) -> TextMerge:
    """Fold :func:`merge3` over ``texts`` in the given order."""
    if not texts:
        return TextMerge(ancestor, 0)
    text, clashes = texts[0], 0
    for other in texts[1:]:
        step = merge3(ancestor, text, other)
        text, clashes = step.text, clashes + step.clashes
    return TextMerge(text, clashes)


def keep_all(texts: Sequence[str]) -> str:
    """All distinct texts in order, separated by :data:`SEPARATOR`; none dropped.

    Texts are considered largest first; one whose lines already appear as a block inside a text
    kept before it is not repeated. The kept texts come out in the given order.
    """
    distinct: list[str] = []
    for text in texts:
        if text not in distinct:
            distinct.append(text)
    blocks = [_lines(t.rstrip("\n")) for t in distinct]
    biggest_first = sorted(
        range(len(distinct)), key=lambda i: (-len(blocks[i]), -len(distinct[i]), i)
    )
    kept: list[int] = []
    for i in biggest_first:
        if not distinct[i].strip("\n"):
            continue
        if not any(contains_block(_lines(distinct[k]), blocks[i]) for k in kept):
            kept.append(i)
    if not kept:
        return max(distinct, key=lambda t: (len(t), t), default="")
    if len(kept) == 1:
        return distinct[kept[0]]
    return f"\n\n{SEPARATOR}\n\n".join(distinct[i].rstrip("\n") for i in sorted(kept))
