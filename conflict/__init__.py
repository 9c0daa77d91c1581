"""Deterministic merges of conflicting document revisions (pure: no I/O, no logging).

The rules of DESIGN.md's Conflicts section, and where each is written down:

- deterministic, same leaves -> same body and revision ids: :mod:`~conflict.revid`,
  :mod:`~conflict.plan`;
- every leaf and the ancestor at the current schema version first: :mod:`~conflict.upgrade`;
- ownership fields never change by a merge; leaves of another owner are recorded, not merged:
  :mod:`~conflict.owners`; deletions beside live edits lose, on record: :mod:`~conflict.deletions`;
- orders: lines by ``line_id`` (tombstones kept), status only forward, office fields win and
  are never taken from a rep's leaf, totals recomputed: :mod:`~conflict.orders`;
- visit notes: N-way text merge against the ancestor, else every text kept; checklist by
  ``item_id``; photos the union; text over the bound cut, the rest on record:
  :mod:`~conflict.visit_notes`, :mod:`~conflict.textmerge`, :mod:`~conflict.attachments`;
- anything else: last writer by ``updated_at``, ties by revision id: :mod:`~conflict.lww`;
- nothing lost silently: :class:`~conflict.result.Overridden` per lost value, the record and
  the notifications: :mod:`~conflict.records`;
- the resolver never stays stuck: :mod:`~conflict.fallback`; it merges against the base the
  leaves really share: :mod:`~conflict.ancestry`; :mod:`~conflict.resolver` applies it all.

Other modules: :mod:`~conflict.revtree` (revision ids, CouchDB's winner, histories),
:mod:`~conflict.leaf` (leaves, ordering), :mod:`~conflict.merge` (dispatch by type),
:mod:`~conflict.store` (the storage Protocol), :mod:`~conflict.errors` (``ConflictError``).
"""

from conflict.errors import (
    ConflictError,
    InvalidRevisionError,
    MixedDocumentsError,
    NoLeavesError,
    UnmergeableError,
)
from conflict.leaf import RESOLVER_ID, Leaf, leaves_from_open_revs
from conflict.lww import merge_last_writer
from conflict.merge import merge
from conflict.orders import merge_orders
from conflict.plan import ResolutionPlan, resolution_plan
from conflict.result import MergeResult, Overridden
from conflict.revid import merged_rev, tombstone_rev
from conflict.revtree import common_ancestor, rev_generation, winning_leaf, winning_rev
from conflict.visit_notes import merge_visit_notes

__all__ = [
    "RESOLVER_ID",
    "ConflictError",
    "InvalidRevisionError",
    "Leaf",
    "MergeResult",
    "MixedDocumentsError",
    "NoLeavesError",
    "Overridden",
    "ResolutionPlan",
    "UnmergeableError",
    "common_ancestor",
    "leaves_from_open_revs",
    "merge",
    "merge_last_writer",
    "merge_orders",
    "merge_visit_notes",
    "merged_rev",
    "resolution_plan",
    "rev_generation",
    "tombstone_rev",
    "winning_leaf",
    "winning_rev",
]
