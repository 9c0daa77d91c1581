"""Whose document it is: ownership fields never change by a merge.

=============  ==============  ===================================================
type           owner field     who may change it
=============  ==============  ===================================================
order          ``rep_id``      nobody
visit_note     ``author_id``   nobody
notification   ``user_id``     nobody
visit          ``assignee_id`` the office (a manager reassigns); never a device
work_order     ``assignee_id`` the office; never a device
=============  ==============  ===================================================

The owner of the merged document (:func:`merged_owner`):

- with the common ancestor: the ancestor's owner, the first owner; for a visit or work order a
  reassignment (a live leaf whose owner differs from the ancestor's: only the office can write
  one, the gateway refuses it from a device) wins, the highest revision first when several
  differ (revision order as CouchDB's, never the device's ``updated_at``);
- without it: the owner of CouchDB's winner among the live leaves, the shared winner.
  (The gateway and the router judge ownership against the shared document before anything is
  stored; this rule is the last line, and it never follows a device's clock.)

A live leaf whose owner is not the merged owner is *foreign*: it did not edit this owner's
document, so none of its values are merged. Each of its values that the merged body does not
carry is recorded (:class:`~conflict.result.Overridden`, ``by`` = "owner ... kept") with that
leaf's own owner as the user to tell, and the resolver closes the leaf like any other loser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conflict.fields import ABSENT, lost, same
from conflict.leaf import Leaf, leaf_user
from conflict.result import Overridden
from conflict.revtree import winning_leaf
from mobile_schema import OWNER_FIELD

OWNER_FIELDS: Mapping[str, str] = OWNER_FIELD
REASSIGNABLE = frozenset({"visit", "work_order"})

# Bookkeeping, not something a person typed: a differing value is not reported as lost.
_NOT_REPORTED = frozenset({"updated_at", "updated_by", "schema_version"})


def live_type(leaves: Sequence[Leaf]) -> str | None:
    """The ``type`` all live leaves agree on, or None."""
    types = {leaf.body.get("type") for leaf in leaves if not leaf.deleted}
    if len(types) != 1:
        return None
    (doc_type,) = types
    return doc_type if isinstance(doc_type, str) else None


def owner_field(leaves: Sequence[Leaf]) -> str | None:
    doc_type = live_type(leaves)
    return OWNER_FIELDS.get(doc_type) if doc_type is not None else None


def merged_owner(live: Sequence[Leaf], ancestor: Mapping[str, Any] | None, field: str) -> Any:
    """The owner the merged document keeps (rules in the module docstring)."""
    held = [leaf.body.get(field, ABSENT) for leaf in live]
    if ancestor is not None and field in ancestor:
        first = ancestor[field]
        if live_type(live) in REASSIGNABLE:
            moved = [leaf for leaf in live if not same(leaf.body.get(field, ABSENT), first)]
            if moved:
                return winning_leaf(moved).body.get(field, ABSENT)
            return first
        if any(same(value, first) for value in held):
            return first
    return winning_leaf(live).body.get(field, ABSENT)


def split_by_owner(
    live: Sequence[Leaf], ancestor: Mapping[str, Any] | None
) -> tuple[str | None, Any, list[Leaf], list[Leaf]]:
    """``(owner field, owner, leaves of that owner, foreign leaves)``; no field: all rightful."""
    field = owner_field(live)
    if field is None:
        return None, ABSENT, list(live), []
    owner = merged_owner(live, ancestor, field)
    rightful = [leaf for leaf in live if same(leaf.body.get(field, ABSENT), owner)]
    foreign = [leaf for leaf in live if not same(leaf.body.get(field, ABSENT), owner)]
    return field, owner, rightful, foreign


def _user(leaf: Leaf, field: str) -> str | None:
    value = leaf.body.get(field)
    return value if isinstance(value, str) and value else leaf_user(leaf)


def foreign_losses(
    foreign: Sequence[Leaf], body: Mapping[str, Any], field: str, owner: Any
) -> list[Overridden]:
    """Every value of the foreign leaves that ``body`` does not carry, told to their owner."""
    losses: list[Overridden] = []
    for leaf in foreign:
        user = _user(leaf, field)
        for name in sorted(set(leaf.body) | set(body)):
            if name.startswith("_") or name in _NOT_REPORTED:
                continue
            value = leaf.body.get(name, ABSENT)
            if not same(value, body.get(name, ABSENT)):
                by = f"owner {lost(owner)!r} kept ({field} never changes in a merge)"
                losses.append(Overridden(name, lost(value), by[:128], leaf.rev, user))
    return losses


def document_owner(body: Mapping[str, Any], ancestor: Mapping[str, Any] | None) -> str | None:
    """The owner named by ``body`` (or else the ancestor): whom a lost deletion concerns."""
    for source in (body, ancestor or {}):
        doc_type = source.get("type")
        field = OWNER_FIELDS.get(doc_type) if isinstance(doc_type, str) else None
        value = source.get(field) if field else None
        if isinstance(value, str) and value:
            return value
    return None
