"""Merge of lists of records that carry their own id and ``updated_at``.

Order lines (``line_id``) and checklist items (``item_id``) merge record by record. For each
id, every live leaf that has the record contributes a *version*. When the common ancestor is
known and had the record, a leaf that no longer has it removed it: that is a version too (for
order lines a tombstone ``deleted: true`` stamped with the leaf's ``updated_at``; for checklist
items an absence). Then, per id:

- with the ancestor's record: versions equal to it did not change it and never win over a
  version that did; among the changed versions the latest wins. A caller may name fields
  that do not count as a change here (order lines: ``confirmed_qty``, which only the back
  office sets and which the order merge settles by its own rule), so a version that changed
  only those never outvotes a real edit because of its stamp;
- otherwise the latest version wins.

"Latest" is the key ``(updated_at of the record, deleted, revision of the leaf)``: on an equal
time a deletion wins (a stale copy must not revive a deleted line), then the higher revision.
Records without an id are keyed by their JSON text, so equal ones collapse and different ones
are all kept.

Output order: the ids in the order of the last writer's list, then the ids only other leaves
have (leaves from latest to oldest), then ids only the ancestor had.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conflict.fields import same
from conflict.leaf import Leaf, leaf_key, leaf_user, timestamp_key
from conflict.result import Overridden
from conflict.revid import canonical_json
from conflict.revtree import rev_key

#: Turns the ancestor's record into the version of a leaf that removed it (None: just absent).
Removal = Callable[[Mapping[str, Any], Leaf], dict[str, Any] | None]


@dataclass(frozen=True)
class Version:
    leaf: Leaf
    item: dict[str, Any] | None  # None: this leaf removed the record

    @property
    def updated_at(self) -> Any:
        return self.item.get("updated_at") if self.item is not None else self.leaf.updated_at

    @property
    def removed(self) -> bool:
        return self.item is None or bool(self.item.get("deleted"))

    def key(self) -> tuple[tuple[datetime, str], bool, tuple[int, str]]:
        return (timestamp_key(self.updated_at), self.removed, rev_key(self.leaf.rev))


def records(body: Mapping[str, Any], field: str) -> list[dict[str, Any]]:
    """The list ``body[field]`` as dicts; anything else in it is ignored."""
    value = body.get(field)
    if not isinstance(value, list):
        return []
    return [dict(item) for item in value if isinstance(item, Mapping)]


def record_id(item: Mapping[str, Any], id_field: str) -> str:
    value = item.get(id_field)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return "~" + canonical_json(item)


@dataclass(frozen=True)
class Grouped:
    """Versions per record id, in output order, plus the ancestor's records by id."""

    versions: dict[str, list[Version]]
    ancestor: dict[str, dict[str, Any]]


def group_versions(
    leaves: Sequence[Leaf],
    field: str,
    id_field: str,
    ancestor: Mapping[str, Any] | None,
    removal: Removal,
) -> Grouped:
    """Collect the versions of every record of ``field`` across the leaves."""
    base = (
        {record_id(r, id_field): r for r in records(ancestor, field)}
        if ancestor is not None
        else {}
    )
    per_leaf = {
        leaf.rev: {record_id(r, id_field): r for r in records(leaf.body, field)} for leaf in leaves
    }
    order: list[str] = []
    for leaf in sorted(leaves, key=leaf_key, reverse=True):
        order += [rid for rid in per_leaf[leaf.rev] if rid not in order]
    order += [rid for rid in base if rid not in order]
    versions: dict[str, list[Version]] = {}
    for rid in order:
        found: list[Version] = []
        for leaf in leaves:
            item = per_leaf[leaf.rev].get(rid)
            if item is not None:
                found.append(Version(leaf, item))
            elif rid in base:
                found.append(Version(leaf, removal(base[rid], leaf)))
        versions[rid] = found
    return Grouped(versions, base)


def _without(item: Mapping[str, Any] | None, ignore: Collection[str]) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ignore}


def pick_version(
    versions: Sequence[Version],
    ancestor_item: Mapping[str, Any] | None,
    ignore: Collection[str] = (),
) -> tuple[dict[str, Any] | None, Version | None, list[Version]]:
    """The merged record (None: removed), the version it came from, and the losing versions.

    Fields in ``ignore`` do not count when telling whether a version changed the ancestor's
    record (the caller settles them itself)."""
    base = _without(ancestor_item, ignore)
    changed = [
        v for v in versions if ancestor_item is None or not same(_without(v.item, ignore), base)
    ]
    if not changed:
        return (dict(ancestor_item) if ancestor_item is not None else None), None, []
    winner = max(changed, key=Version.key)
    losers = [v for v in changed if not same(v.item, winner.item)]
    return winner.item, winner, losers


def loss(field: str, rid: str, version: Version, by: str) -> Overridden:
    """The record of one losing version (a removal is reported as the string "removed")."""
    return Overridden(
        what=f"{field}[{rid}]",
        lost_value=version.item if version.item is not None else "removed",
        by=by,
        lost_rev=version.leaf.rev,
        user_id=leaf_user(version.leaf),
    )


def merge_keyed(
    leaves: Sequence[Leaf],
    field: str,
    id_field: str,
    ancestor: Mapping[str, Any] | None,
    removal: Removal,
) -> tuple[list[dict[str, Any]], list[Overridden]]:
    """Merge ``field`` of the leaves record by record; returns the records and what lost."""
    grouped = group_versions(leaves, field, id_field, ancestor, removal)
    merged: list[dict[str, Any]] = []
    losses: list[Overridden] = []
    for rid, versions in grouped.versions.items():
        item, winner, losers = pick_version(versions, grouped.ancestor.get(rid))
        if item is not None:
            merged.append(item)
        by = f"latest {id_field} edit ({winner.leaf.rev})" if winner else "ancestor"
        losses += [loss(field, rid, v, by) for v in losers]
    return merged, losses
