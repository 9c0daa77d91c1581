"""Merge of conflicting order revisions.

Rules, applied to the live leaves (deletions: see :mod:`conflict.deletions`):

status
    Moves only forward: ``draft < submitted < confirmed < shipped < invoiced``, and the final
    ``cancelled`` and ``rejected`` rank above all of them (``rejected``, the back office's
    word, above ``cancelled``). The merged status is the highest; an unknown status ranks
    lowest. A status that loses is recorded when it is final itself, or when it is back-office
    progress (``confirmed`` / ``shipped`` / ``invoiced``) cut short by a final status; a stale
    ``draft`` / ``submitted`` beside a later status is just history.

*authority* of a leaf
    ``(status rank, updated_at, revision id)``: the leaf that got furthest in the order's life,
    then the last writer. Back-office values come from the leaf with the highest authority
    that carries one.

*office leaf*, *rep leaf*
    A leaf whose status is past ``submitted`` (or final) was written by the office; a leaf in
    ``draft`` / ``submitted`` (or with an unknown status) is a rep's. A rep's device cannot set
    the office's statuses or fields (the gateway refuses it), so whatever a rep leaf holds in
    an office field is never taken, whatever its timestamps.

back-office fields
    ``confirmed_at``, ``rejection_reason``, ``shipped_at``, ``invoiced_at``: the non-null
    value of the highest-authority office leaf that has one, else the ancestor's. Per line,
    ``confirmed_qty`` likewise (office leaves, else the ancestor's line); and when the merged
    status is a back-office one (``confirmed``, ``shipped``, ``invoiced``, ``rejected``),
    ``unit_price`` from the highest-authority such leaf that has the line: past ``submitted``
    the price is the back office's, and so is ``account_id`` (the account the office
    confirmed). They override whatever the line's own merge chose; every other non-null value
    that differs (a rep's, or a second office leaf's diverging ``confirmed_qty``) is recorded.

lines
    Merged by ``line_id`` with each line's ``updated_at`` (:mod:`conflict.keyed`). A deleted
    line stays in ``lines`` as a tombstone (``deleted: true``); a stale copy never revives it,
    and a later edit that does is recorded. With the ancestor, a line some leaf dropped from
    the list counts as deleted by that leaf at its ``updated_at``, and a copy that differs
    from the ancestor's line only in ``confirmed_qty`` (a confirmation) is no edit of the line:
    a rep's edit of that line wins over it whatever the two stamps say (device clocks can be
    hours off).

``submitted_at``
    The earliest non-null one (the order was submitted then).

other fields (``note``, ``account_id``, ...)
    :mod:`conflict.fields`: three-way against the ancestor when known, else last writer.

``total``
    Recomputed from the merged lines with :func:`mobile_schema.money.order_total`.

``updated_at`` / ``updated_by`` / ``schema_version``: see :mod:`conflict.common`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from conflict.common import BOOKKEEPING, finish_body
from conflict.deletions import with_deletions
from conflict.errors import UnmergeableError
from conflict.fields import ABSENT, merge_fields, pick_field, same
from conflict.keyed import Version, group_versions, loss, pick_version
from conflict.leaf import Leaf, leaf_key, leaf_user, timestamp_key
from conflict.result import MergeResult, Overridden, make_result
from mobile_schema.money import order_total

FORWARD = ("draft", "submitted", "confirmed", "shipped", "invoiced")
FINAL = ("cancelled", "rejected")
STATUS_RANK: dict[str, int] = {s: i for i, s in enumerate(FORWARD + FINAL)}
#: Statuses only the back office sets (past ``submitted``, and ``rejected``).
BACK_OFFICE_STATUSES = frozenset({"confirmed", "shipped", "invoiced", "rejected"})
BACK_OFFICE_FIELDS = ("confirmed_at", "rejection_reason", "shipped_at", "invoiced_at")
BACK_OFFICE_LINE_FIELDS = ("confirmed_qty",)

# Back-office progress that a final status can cut short (worth a record when it does).
_PROGRESS = frozenset({"confirmed", "shipped", "invoiced"})
_OWN_RULES = frozenset({"lines", "status", "submitted_at", "total", *BACK_OFFICE_FIELDS})
#: Statuses a rep's device writes; a leaf in any other (known) status is the office's.
REP_STATUSES = frozenset({"draft", "submitted"})

Authority = tuple[int, tuple[tuple[datetime, str], tuple[int, str]]]


def status_rank(status: Any) -> int:
    return STATUS_RANK.get(status, -1) if isinstance(status, str) else -1


def authority(leaf: Leaf) -> Authority:
    return (status_rank(leaf.body.get("status")), leaf_key(leaf))


def _tombstone(ancestor_line: Mapping[str, Any], leaf: Leaf) -> dict[str, Any]:
    stamp = leaf.updated_at or ancestor_line.get("updated_at")
    return {**ancestor_line, "deleted": True, "updated_at": stamp}


def _merge_status(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None
) -> tuple[Any, list[Overridden]]:
    top = max(leaves, key=authority)
    status = top.body.get("status")
    base = ancestor.get("status") if ancestor is not None else None
    losses = []
    for leaf in leaves:
        other = leaf.body.get("status")
        if same(other, status) or (ancestor is not None and same(other, base)):
            continue
        if other in FINAL or (status in FINAL and other in _PROGRESS):
            losses.append(
                Overridden("status", other, f"status order ({top.rev})", leaf.rev, leaf_user(leaf))
            )
    return status, losses


def is_office_leaf(leaf: Leaf) -> bool:
    """Whether the leaf's status is one only the office sets (see the module docstring)."""
    status = leaf.body.get("status")
    return status_rank(status) >= 0 and status not in REP_STATUSES


def _back_office_value(
    leaves: Sequence[Leaf], name: str, ancestor: Mapping[str, Any] | None
) -> tuple[Any, str | None]:
    """The office's value of ``name`` and where it came from (a revision, "ancestor", None)."""
    holders = [leaf for leaf in leaves if is_office_leaf(leaf) and leaf.body.get(name) is not None]
    if holders:
        source = max(holders, key=authority)
        return source.body[name], source.rev
    if ancestor is not None and ancestor.get(name) is not None:
        return ancestor[name], "ancestor"
    return None, None


def _overlay(
    line: dict[str, Any],
    name: str,
    versions: Sequence[Version],
    sources: Sequence[Version],
    ancestor_line: Mapping[str, Any] | None,
    what: str,
    *,
    office_only: bool,
) -> list[Overridden]:
    """Put the highest-authority non-null ``name`` of ``sources`` (else the ancestor's line's)
    on ``line``; report every other non-null value of ``versions`` that lost. With
    ``office_only`` a value nobody in ``sources`` set is cleared (a rep never sets it)."""
    holders = [v for v in sources if v.item is not None and v.item.get(name) is not None]
    if holders:
        source = max(holders, key=lambda v: authority(v.leaf))
        value = source.item[name] if source.item is not None else None
        by = f"back office ({source.leaf.rev})"
    elif ancestor_line is not None and ancestor_line.get(name) is not None:
        value, by = ancestor_line[name], "back office (ancestor)"
    elif line.get(name) is None or not office_only:
        return []
    else:
        value, by = None, "back office (not set)"
    line[name] = value
    base = ancestor_line.get(name) if ancestor_line is not None else None
    losses: list[Overridden] = []
    for version in versions:
        other = version.item.get(name) if version.item is not None else None
        if other is None or same(other, value) or (base is not None and same(other, base)):
            continue
        losses.append(
            Overridden(f"{what}.{name}", other, by, version.leaf.rev, leaf_user(version.leaf))
        )
    return losses


def _merge_lines(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None, status: Any
) -> tuple[list[dict[str, Any]], list[Overridden]]:
    grouped = group_versions(leaves, "lines", "line_id", ancestor, _tombstone)
    merged: list[dict[str, Any]] = []
    losses: list[Overridden] = []
    for rid, versions in grouped.versions.items():
        ancestor_line = grouped.ancestor.get(rid)
        # a copy that differs from the ancestor only in confirmed_qty is the back office's
        # confirmation, not an edit of the line: it must not outvote a rep's edit by its stamp
        # (which may come from another device's clock); confirmed_qty is overlaid below
        item, winner, losers = pick_version(versions, ancestor_line, BACK_OFFICE_LINE_FIELDS)
        if item is None:
            continue
        by = f"latest line edit ({winner.leaf.rev})" if winner else "ancestor"
        losses += [loss("lines", rid, v, by) for v in losers]
        line = dict(item)
        what = f"lines[{rid}]"
        office = [v for v in versions if is_office_leaf(v.leaf)]
        losses += _overlay(
            line, "confirmed_qty", versions, office, ancestor_line, what, office_only=True
        )
        if status in BACK_OFFICE_STATUSES:
            past_submitted = [
                v for v in versions if v.leaf.body.get("status") in BACK_OFFICE_STATUSES
            ]
            losses += _overlay(
                line, "unit_price", versions, past_submitted, ancestor_line, what, office_only=False
            )
        merged.append(line)
    return merged, losses


def _earliest_submitted_at(leaves: Sequence[Leaf]) -> Any:
    stamps = [v for leaf in leaves if isinstance(v := leaf.body.get("submitted_at"), str)]
    return min(stamps, key=timestamp_key) if stamps else None


def _office_fields(status: Any) -> tuple[str, ...]:
    if status in BACK_OFFICE_STATUSES:
        return (*BACK_OFFICE_FIELDS, "account_id")  # the account the office confirmed
    return BACK_OFFICE_FIELDS


def _merge_live(leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None) -> MergeResult:
    status, lost_status = _merge_status(leaves, ancestor)
    office_fields = _office_fields(status)
    fields, losses = merge_fields(
        leaves, ancestor, skip=_OWN_RULES | BOOKKEEPING | {*office_fields}
    )
    lines, lost_lines = _merge_lines(leaves, ancestor, status)
    losses += lost_status + lost_lines
    if status is not None:
        fields["status"] = status
    for name in office_fields:
        value, source = _back_office_value(leaves, name, ancestor)
        if source is None:
            if name == "account_id":  # no office leaf holds one: as a plain field
                value, lost_here = pick_field(name, leaves, ancestor)
                if value is not ABSENT:
                    fields[name] = value
                losses += lost_here
                continue
            if any(name in leaf.body for leaf in leaves):
                fields[name] = None  # a rep's leaf never sets it (module docstring)
            source = "not set"
        else:
            fields[name] = value
        base = ancestor.get(name) if ancestor is not None else None
        losses += [
            Overridden(name, other, f"back office ({source})", leaf.rev, leaf_user(leaf))
            for leaf in leaves
            if (other := leaf.body.get(name)) is not None
            and not same(other, value)
            and not (base is not None and same(other, base))
        ]
    submitted_at = _earliest_submitted_at(leaves)
    if submitted_at is not None:
        fields["submitted_at"] = submitted_at
    elif any("submitted_at" in leaf.body for leaf in leaves):
        fields["submitted_at"] = None
    fields["lines"] = lines
    try:
        fields["total"] = order_total(lines)
    except ValueError as exc:
        raise UnmergeableError(f"order lines hold an amount that is no number: {exc}") from exc
    body, notes = finish_body(leaves, ancestor, fields)
    return make_result(body, "order-merge", losses, notes)


def merge_orders(leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None = None) -> MergeResult:
    """Merge conflicting revisions of an order (rules in the module docstring)."""
    return with_deletions(leaves, ancestor, _merge_live)
