"""The base to merge against: the common ancestor, seeing through branches a merge absorbed.

When the resolver merges leaves ``W`` (CouchDB's winner) and ``L`` it writes ``M`` as a child
of ``W`` and closes ``L`` with a tombstone ``T`` whose id is
``tombstone_rev(L, M)`` (:mod:`conflict.revid`). ``M`` holds everything of ``L``, but the tree
does not say so: ``M``'s path is ``M, W, ..., A``. A device that went on editing ``L`` offline
pushes ``L2`` (a child of ``L``); the common ancestor of ``M`` and ``L2`` in the tree is the old
``A``, and merging ``M`` with ``L2`` against ``A`` would apply ``L``'s edits a second time (with
repeated lines a text merge cannot tell them from the ancestor's).

:func:`merge_base` therefore treats a live leaf as descending also from every branch it
absorbed: a deleted leaf ``T`` whose parent ``P`` gives ``T == tombstone_rev(P, r)`` for a
revision ``r`` on the live leaf's path. The base is the newest revision common to those
extended paths; for ``M`` and ``L2`` that is ``L`` itself, where ``L2``'s edits are exactly
what the device typed since. Without such tombstones this is
:func:`conflict.revtree.common_ancestor`.
"""

from __future__ import annotations

from collections.abc import Sequence

from conflict.leaf import Leaf
from conflict.revid import tombstone_rev
from conflict.revtree import common_ancestor


def extended_history(leaf: Leaf, dead: Sequence[Leaf]) -> set[str]:
    """``leaf``'s path plus the paths of the branches it absorbed (module docstring)."""
    path = leaf.history
    found = set(path)
    for tomb in dead:
        closed = tomb.history
        if len(closed) < 2:
            continue
        parent = closed[1]
        if any(tomb.rev == tombstone_rev(parent, rev) for rev in path):
            found.update(closed[1:])
    return found


def merge_base(leaves: Sequence[Leaf]) -> str | None:
    """The revision to merge the live leaves against, or None when they share none."""
    live = [leaf for leaf in leaves if not leaf.deleted]
    dead = [leaf for leaf in leaves if leaf.deleted]
    if not dead:
        return common_ancestor([leaf.history for leaf in live])
    return common_ancestor([sorted(extended_history(leaf, dead)) for leaf in live])
