"""What a merge returns.

``MergeResult.body`` is the merged document body: ``_id`` and ``_attachments`` (stubs) kept,
no ``_rev`` / ``_revisions`` / ``_deleted`` / ``_conflicts``. ``overridden`` lists every value
a leaf had that the merged body does not carry, with the rule that beat it, sorted so the same
leaves always give the same list; ``user_ids`` are the users to notify (sorted, distinct).
``notes`` are remarks that are not losses (both texts kept, an attachment renamed), for the
conflict record. ``deleted`` is true only when every leaf is a deletion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conflict.revid import canonical_json


@dataclass(frozen=True)
class Overridden:
    """One value that lost: ``what`` (a path such as ``lines[l1].qty``), the losing value,
    ``by`` (the rule and the revision that won), the losing leaf's revision and its user."""

    what: str
    lost_value: Any
    by: str
    lost_rev: str = ""
    user_id: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The ``{"what", "lost_value", "by"}`` entry of a conflict_record."""
        return {"what": self.what, "lost_value": self.lost_value, "by": self.by}


@dataclass(frozen=True)
class MergeResult:
    body: dict[str, Any]
    strategy: str
    overridden: list[Overridden] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deleted: bool = False


def _sort_key(item: Overridden) -> tuple[str, str, str, str]:
    return (item.what, item.lost_rev, item.by, canonical_json(item.lost_value))


def make_result(
    body: dict[str, Any],
    strategy: str,
    overridden: Iterable[Overridden] = (),
    notes: Iterable[str] = (),
    deleted: bool = False,
) -> MergeResult:
    """Build a MergeResult with its lists in canonical order and ``user_ids`` filled in."""
    lost = sorted(overridden, key=_sort_key)
    users = sorted({o.user_id for o in lost if o.user_id})
    return MergeResult(
        body=body,
        strategy=strategy,
        overridden=lost,
        user_ids=users,
        notes=sorted(set(notes)),
        deleted=deleted,
    )
