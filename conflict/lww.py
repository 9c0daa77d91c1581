"""Last writer wins: the rule for every type without a merge of its own.

The live leaf with the highest ``(updated_at, revision id)`` is the merged body, unchanged
(so ``updated_by`` stays its real author). Every top-level field where another live leaf had a
different value is recorded as overridden. Deletions follow :mod:`conflict.deletions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conflict.deletions import strip_meta, with_deletions
from conflict.fields import ABSENT, lost, same
from conflict.leaf import Leaf, leaf_key, leaf_user
from conflict.result import MergeResult, Overridden, make_result

# Bookkeeping, not something a person typed: a differing value is not reported as lost.
_NOT_REPORTED = frozenset({"_id", "updated_at", "updated_by", "schema_version"})


def _merge_live(leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None) -> MergeResult:
    del ancestor  # the whole body of the last writer wins; the ancestor changes nothing
    winner = max(leaves, key=leaf_key)
    body = strip_meta(winner.body)
    losses: list[Overridden] = []
    for leaf in leaves:
        if leaf is winner:
            continue
        other = strip_meta(leaf.body)
        for name in sorted(set(body) | set(other)):
            if name not in _NOT_REPORTED and not same(
                other.get(name, ABSENT), body.get(name, ABSENT)
            ):
                losses.append(
                    Overridden(
                        what=name,
                        lost_value=lost(other.get(name, ABSENT)),
                        by=f"last writer ({winner.rev})",
                        lost_rev=leaf.rev,
                        user_id=leaf_user(leaf),
                    )
                )
    return make_result(body, "last-writer", losses)


def merge_last_writer(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None = None
) -> MergeResult:
    """Merge by last writer wins (``updated_at``, ties by revision id)."""
    return with_deletions(leaves, ancestor, _merge_live)
