"""Deterministic merges of conflicting document revisions (pure: no I/O, no logging).

Modules: :mod:`~conflict.revtree` (revision ids, CouchDB's winner, histories),
:mod:`~conflict.revid` (derived revision ids), :mod:`~conflict.leaf` (leaves, ordering),
:mod:`~conflict.merge` (dispatch by type) over :mod:`~conflict.orders`,
:mod:`~conflict.visit_notes`, :mod:`~conflict.lww`; :mod:`~conflict.plan` (what the resolver
writes); :mod:`~conflict.store` (the storage Protocol the resolver will use);
:mod:`~conflict.errors` (``ConflictError`` and its family).
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
