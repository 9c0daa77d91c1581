"""What every merge does before its type's own rule: check the leaves, settle deletions.

- No leaves → :class:`~conflict.errors.NoLeavesError`; leaves of different ``_id`` →
  :class:`~conflict.errors.MixedDocumentsError`. The same revision given twice counts once.
- Every leaf deleted → the document stays deleted (``MergeResult.deleted``), nothing to merge.
- Deleted leaves next to live ones: the live edits win, so nothing typed after (or while) the
  document was deleted on another device is lost. That is also what CouchDB already shows
  (a live leaf always beats a deleted one). Each losing deletion is recorded as
  ``Overridden(what="_deleted", lost_value=True)``.
- One live leaf → its body as it is (strategy ``single-live-leaf``).
- Two or more live leaves → the type's merge of the live leaves.

Bodies handed back keep ``_id`` and ``_attachments`` only of the underscore fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conflict.errors import MixedDocumentsError, NoLeavesError
from conflict.leaf import Leaf, leaf_user
from conflict.result import MergeResult, Overridden, make_result
from conflict.revtree import rev_key, winning_leaf

#: A type's merge of two or more live leaves (given in revision order).
LiveMerge = Callable[[Sequence[Leaf], Mapping[str, Any] | None], MergeResult]

_KEPT_META = ("_id", "_attachments")


def strip_meta(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without revision bookkeeping (``_rev``, ``_revisions``, ``_deleted``, ...)."""
    return {k: v for k, v in body.items() if not k.startswith("_") or k in _KEPT_META}


def normalize(leaves: Sequence[Leaf]) -> list[Leaf]:
    """Distinct leaves in revision order; raises on none or on mixed document ids."""
    if not leaves:
        raise NoLeavesError("merge needs at least one leaf revision")
    by_rev: dict[str, Leaf] = {}
    for leaf in leaves:
        by_rev.setdefault(leaf.rev, leaf)
    ordered = sorted(by_rev.values(), key=lambda leaf: rev_key(leaf.rev))
    ids = {leaf.body["_id"] for leaf in ordered if isinstance(leaf.body.get("_id"), str)}
    if len(ids) > 1:
        raise MixedDocumentsError(f"leaves of different documents: {sorted(ids)}")
    return ordered


def doc_id(leaves: Sequence[Leaf]) -> str | None:
    for leaf in leaves:
        value = leaf.body.get("_id")
        if isinstance(value, str):
            return value
    return None


def with_deletions(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None, merge_live: LiveMerge
) -> MergeResult:
    """Apply the deletion rules above, calling ``merge_live`` for two or more live leaves."""
    ordered = normalize(leaves)
    live = [leaf for leaf in ordered if not leaf.deleted]
    dead = [leaf for leaf in ordered if leaf.deleted]
    if not live:
        ident = doc_id(ordered)
        return make_result({"_id": ident} if ident else {}, "all-deleted", deleted=True)
    if len(live) == 1:
        result = make_result(strip_meta(live[0].body), "single-live-leaf")
    else:
        result = merge_live(live, ancestor)
    if not dead:
        return result
    kept = winning_leaf(live)
    lost = [
        Overridden(
            what="_deleted",
            lost_value=True,
            by=f"live edit kept ({kept.rev})",
            lost_rev=leaf.rev,
            user_id=leaf_user(leaf),
        )
        for leaf in dead
    ]
    return make_result(
        result.body,
        result.strategy,
        [*result.overridden, *lost],
        [*result.notes, f"deletion(s) {', '.join(d.rev for d in dead)} lost to live edits"],
    )
