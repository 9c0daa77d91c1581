"""What every merge does before its type's own rule: check the leaves, settle deletions.

- No leaves → :class:`~conflict.errors.NoLeavesError`; leaves of different ``_id`` →
  :class:`~conflict.errors.MixedDocumentsError`. The same revision given twice counts once.
- Every leaf deleted → the document stays deleted (``MergeResult.deleted``), nothing to merge.
- Deleted leaves next to live ones: the live edits win, so nothing typed after (or while) the
  document was deleted on another device is lost. That is also what CouchDB already shows
  (a live leaf always beats a deleted one). Each losing deletion is recorded as
  ``Overridden(what="_deleted", lost_value=True)``.
  A deleted leaf carries only ``_id`` / ``_rev`` / ``_deleted``, so the person to tell is the
  document's owner (:func:`conflict.owners.document_owner`: who alone may delete it).
- Ownership (:mod:`conflict.owners`): the live leaves of another owner than the merged one are
  foreign; their values are recorded as lost and not merged.
- One live leaf (of the owner) → its body as it is (strategy ``single-live-leaf``).
- Two or more → the type's merge of those leaves.

Bodies handed back keep ``_id`` and ``_attachments`` only of the underscore fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conflict.errors import MixedDocumentsError, NoLeavesError
from conflict.leaf import Leaf, leaf_user
from conflict.owners import document_owner, foreign_losses, split_by_owner
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
    field, owner, rightful, foreign = split_by_owner(live, ancestor)
    if len(rightful) == 1:
        result = make_result(strip_meta(rightful[0].body), "single-live-leaf")
    else:
        result = merge_live(rightful, ancestor)
    notes = list(result.notes)
    losses = list(result.overridden)
    if foreign and field is not None:
        losses += foreign_losses(foreign, result.body, field, owner)
        notes.append(f"leaves of another owner not merged: {', '.join(f.rev for f in foreign)}")
    if not dead:
        return make_result(result.body, result.strategy, losses, notes) if foreign else result
    kept = winning_leaf(rightful)
    owner_id = document_owner(result.body, ancestor)
    losses += [
        Overridden(
            what="_deleted",
            lost_value=True,
            by=f"live edit kept ({kept.rev})",
            lost_rev=leaf.rev,
            user_id=owner_id or leaf_user(leaf),
        )
        for leaf in dead
    ]
    notes.append(f"deletion(s) {', '.join(d.rev for d in dead)} lost to live edits")
    return make_result(result.body, result.strategy, losses, notes)
