"""Entry point: merge the leaves of any document by the rule of its ``type``.

============  ==========================================
``type``      rule
============  ==========================================
order         :func:`conflict.orders.merge_orders`
visit_note    :func:`conflict.visit_notes.merge_visit_notes`
anything else :func:`conflict.lww.merge_last_writer`
============  ==========================================

The type is read from the live leaves; when they disagree (a document whose type changed on
one side) no field-wise merge makes sense and last writer wins.

Before any rule runs, every leaf and the ancestor are lifted to the current schema version
(:mod:`conflict.upgrade`), so a rule only ever sees one shape. Then, for every type
(:mod:`conflict.deletions`): deletions beside live edits lose (recorded, the owner told);
ownership fields keep the first owner, and leaves of another owner are recorded, not merged
(:mod:`conflict.owners`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conflict.leaf import Leaf
from conflict.lww import merge_last_writer
from conflict.orders import merge_orders
from conflict.result import MergeResult
from conflict.upgrade import upgraded_ancestor, upgraded_leaf
from conflict.visit_notes import merge_visit_notes

Merger = Callable[[Sequence[Leaf], Mapping[str, Any] | None], MergeResult]

MERGERS: Mapping[str, Merger] = {
    "order": merge_orders,
    "visit_note": merge_visit_notes,
}


def merger_for(leaves: Sequence[Leaf]) -> Merger:
    """The merge function for these leaves' type."""
    types = {leaf.body.get("type") for leaf in leaves if not leaf.deleted}
    if len(types) != 1:
        return merge_last_writer
    (doc_type,) = types
    return (
        MERGERS.get(doc_type, merge_last_writer)
        if isinstance(doc_type, str)
        else (merge_last_writer)
    )


def merge(leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None = None) -> MergeResult:
    """Merge the leaf revisions of one document; ``ancestor`` is the common ancestor's body."""
    current = [upgraded_leaf(leaf) for leaf in leaves]
    return merger_for(current)(current, upgraded_ancestor(ancestor))
