"""Revision ids and revision histories, following CouchDB's rules.

A revision id is ``"<generation>-<hash>"``: generation a positive integer, hash a string
(CouchDB uses 32 lowercase hex digits, PouchDB sometimes others; we only require non-empty).
Revision ids order as ``(generation, hash)``, the hash compared as a string.

Winner rule (CouchDB's ``couch_doc`` / Sync Gateway's ``db/revtree.go``): the winning leaf is the
one whose ``(not deleted, generation, hash)`` compares highest. A live leaf therefore always beats
a deleted one, whatever their generations.

A leaf fetched with ``open_revs=all&revs=true`` carries its history as
``"_revisions": {"start": N, "ids": [hash_N, hash_N-1, ...]}``, newest first and possibly
stemmed (cut short by ``_revs_limit``). :func:`history` expands it into full revision ids; the
common ancestor of several leaves is the newest revision present in all their histories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from conflict.errors import InvalidRevisionError, NoLeavesError

if TYPE_CHECKING:
    from conflict.leaf import Leaf


def parse_rev(rev: str) -> tuple[int, str]:
    """Split ``"3-abc"`` into ``(3, "abc")``; raise InvalidRevisionError when malformed."""
    gen_text, sep, digest = rev.partition("-") if isinstance(rev, str) else ("", "", "")
    if not sep or not digest or not gen_text.isdigit() or int(gen_text) < 1:
        raise InvalidRevisionError(f"not a revision id: {rev!r}")
    return int(gen_text), digest


def rev_generation(rev: str) -> int:
    """The generation (the number before the dash) of a revision id."""
    return parse_rev(rev)[0]


def rev_key(rev: str) -> tuple[int, str]:
    """Sort key of a revision id: ``(generation, hash)``, as CouchDB compares them."""
    return parse_rev(rev)


def winner_key(leaf: Leaf) -> tuple[bool, int, str]:
    """CouchDB's winner key of a leaf: ``(not deleted, generation, hash)``."""
    gen, digest = parse_rev(leaf.rev)
    return (not leaf.deleted, gen, digest)


def winning_leaf(leaves: Iterable[Leaf]) -> Leaf:
    """The leaf CouchDB shows as the document: highest ``(not deleted, generation, hash)``."""
    best: Leaf | None = None
    for leaf in leaves:
        if best is None or winner_key(leaf) > winner_key(best):
            best = leaf
    if best is None:
        raise NoLeavesError("no leaf revisions")
    return best


def winning_rev(leaves: Iterable[Leaf]) -> str:
    """The revision id of :func:`winning_leaf`."""
    return winning_leaf(leaves).rev


def history(rev: str, revisions: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Full revision ids of a leaf's path, newest (the leaf itself) first.

    ``revisions`` is the leaf's ``_revisions`` object; without it (or when it does not describe
    ``rev``) the history is just the leaf itself.
    """
    gen, digest = parse_rev(rev)
    if not revisions:
        return (rev,)
    start = revisions.get("start")
    ids = revisions.get("ids")
    if start != gen or not isinstance(ids, list) or not ids or ids[0] != digest:
        return (rev,)
    return tuple(f"{start - i}-{h}" for i, h in enumerate(ids) if start - i >= 1)


def common_ancestor(histories: Sequence[Sequence[str]]) -> str | None:
    """The newest revision present in every history, or None when the histories share none.

    Stemmed histories (``_revs_limit``) may share nothing even though the documents once had
    a common ancestor; the caller then merges without one.
    """
    if not histories:
        return None
    shared = set(histories[0])
    for hist in histories[1:]:
        shared &= set(hist)
    if not shared:
        return None
    return max(shared, key=rev_key)
