"""Line-based text merges that never drop what someone typed.

Texts are split on ``"\\n"`` (so a trailing newline is an empty last line and joins back
exactly).

:func:`merge3` is a diff3 three-way merge built on :mod:`difflib`: regions where both sides still
match the ancestor are kept; a region changed on one side only takes that side; a region changed
the same way on both takes it once; in a region both changed, the two sides' edits (against the
ancestor) are applied together where they do not overlap; where they overlap (a *clash*) both
versions of that stretch are kept: the first side's lines, then the second's — unless one
side's lines already appear as a block inside the other's, which is then taken alone (that
keeps a merge of a merged text with one of its inputs unchanged). Several sides fold left:
``merge3(a, merge3(a, t1, t2), t3)``.

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


# An edit of one side, in the ancestor's coordinates: replace base[start:end] by ``lines``
# (start == end: an insertion before base[start]).
_Edit = tuple[int, int, list[str], int]  # start, end, lines, side (0 first, 1 second)


def _edits(base: Sequence[str], side: Sequence[str], tag: int) -> list[_Edit]:
    matcher = SequenceMatcher(None, base, side, autojunk=False)
    return [
        (i1, i2, list(side[j1:j2]), tag)
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
        if op != "equal"
    ]


def _overlap(e: _Edit, f: _Edit) -> bool:
    (a1, a2), (b1, b2) = e[:2], f[:2]
    if a1 == a2 and b1 == b2:
        return a1 == b1  # two insertions at one place: which goes first is a real clash
    if a1 == a2:
        return b1 < a1 < b2
    if b1 == b2:
        return a1 < b1 < a2
    return a1 < b2 and b1 < a2


def _apply(base: Sequence[str], lo: int, hi: int, edits: Sequence[_Edit]) -> list[str]:
    out: list[str] = []
    pos = lo
    for start, end, lines, _ in sorted(edits, key=lambda e: (e[0], e[1])):
        out += base[pos:start]
        out += lines
        pos = end
    return out + list(base[pos:hi])


def _settle(
    base: Sequence[str], first: Sequence[str], second: Sequence[str]
) -> tuple[list[str], int]:
    """A region both sides changed: apply each side's edits where they do not overlap; where
    they do, keep both versions of that stretch (unless one contains the other)."""
    edits = sorted(_edits(base, first, 0) + _edits(base, second, 1), key=lambda e: (e[0], e[1]))
    clusters: list[list[_Edit]] = []
    for edit in edits:
        if clusters and any(_overlap(edit, other) for other in clusters[-1]):
            clusters[-1].append(edit)
        else:
            clusters.append([edit])
    out: list[str] = []
    clashes = 0
    pos = 0
    for cluster in clusters:
        lo = min(e[0] for e in cluster)
        hi = max(e[1] for e in cluster)
        out += base[pos:lo]
        mine = _apply(base, lo, hi, [e for e in cluster if e[3] == 0])
        theirs = _apply(base, lo, hi, [e for e in cluster if e[3] == 1])
        sides = {e[3] for e in cluster}
        if sides == {0} or mine == theirs:
            out += mine
        elif sides == {1}:
            out += theirs
        elif contains_block(mine, theirs):
            out += mine
        elif contains_block(theirs, mine):
            out += theirs
        else:
            clashes += 1
            out += mine + theirs
        pos = hi
    return out + list(base[pos:]), clashes


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
            else:
                lines, found = _settle(zchunk, achunk, bchunk)
                clashes += found
                out += lines
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
