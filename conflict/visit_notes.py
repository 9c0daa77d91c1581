"""Merge of conflicting visit note revisions.

Rules, applied to the live leaves (deletions: see :mod:`conflict.deletions`):

``text``
    With the common ancestor's body: a three-way line merge (:func:`conflict.textmerge.merge_many`)
    of the leaves' texts, oldest writer first; where two people changed the same lines
    differently both versions stay, one after the other. Without the ancestor: every distinct
    text is kept (:func:`conflict.textmerge.keep_all`), oldest writer first, separated by a
    visible :data:`conflict.textmerge.SEPARATOR` line. Nothing typed is dropped either way, so
    text never appears in ``overridden``; ``notes`` says when both versions were kept.
    "Oldest writer first" is the order of ``(updated_at, revision id)``.

    Overflow: a merged text longer than the note's bound (``LongText``, 20,000 characters:
    two long texts kept side by side) is cut after its last whole line that fits, and ends with
    a line saying how many characters were moved (:func:`conflict.textmerge.fit`); the rest,
    word for word, is an ``overridden`` entry of the conflict record (``what`` = ``text``,
    ``lost_value`` = the rest, ``by`` = the limit), so the author is told and every word is in
    the note or its record. The merged note always validates.

``checklist``
    Merged by ``item_id`` with each item's ``updated_at``, ties by revision id
    (:mod:`conflict.keyed`); with the ancestor, an item a leaf removed and nobody changed stays
    removed.

``_attachments`` (photos)
    The union (:mod:`conflict.attachments`); a name used for two different files keeps both,
    the second renamed ``"name (2).ext"``.

other fields
    :mod:`conflict.fields`; ``updated_at`` / ``updated_by`` / ``schema_version``: see
    :mod:`conflict.common`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conflict.common import BOOKKEEPING, finish_body
from conflict.deletions import with_deletions
from conflict.fields import merge_fields
from conflict.keyed import merge_keyed
from conflict.leaf import Leaf, leaf_key, leaf_user
from conflict.result import MergeResult, Overridden, make_result
from conflict.textmerge import fit, keep_all, merge_many
from mobile_schema.fields import MAX_TEXT

_OWN_RULES = frozenset({"text", "checklist"})


def _no_item(ancestor_item: Mapping[str, Any], leaf: Leaf) -> None:
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _merge_text(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None
) -> tuple[str, list[str]]:
    texts = [_text(leaf.body.get("text")) for leaf in sorted(leaves, key=leaf_key)]
    if ancestor is not None and isinstance(ancestor.get("text"), str):
        merged = merge_many(ancestor["text"], texts)
        notes = [f"text: {merged.clashes} clashing edit(s), both versions kept"]
        return merged.text, notes if merged.clashes else []
    text = keep_all(texts)
    distinct = {t for t in texts if t.strip("\n")}
    notes = ["text: merged without ancestor, distinct versions kept"] if len(distinct) > 1 else []
    return text, notes


def _fit_text(text: str, leaves: Sequence[Leaf]) -> tuple[str, list[Overridden], list[str]]:
    kept, rest = fit(text, MAX_TEXT)
    if not rest:
        return text, [], []
    newest = max(leaves, key=leaf_key)  # texts are kept oldest first: the cut tail is newest
    by = f"text limit ({MAX_TEXT} characters): the rest is kept here"
    lost = Overridden("text", rest, by, newest.rev, leaf_user(newest))
    return kept, [lost], [f"text: {len(rest)} characters over the limit moved to the record"]


def _merge_live(leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None) -> MergeResult:
    fields, losses = merge_fields(leaves, ancestor, skip=_OWN_RULES | BOOKKEEPING)
    notes: list[str] = []
    if any("text" in leaf.body for leaf in leaves):
        text, notes = _merge_text(leaves, ancestor)
        fields["text"], cut, more = _fit_text(text, leaves)
        losses += cut
        notes += more
    if any("checklist" in leaf.body for leaf in leaves):
        fields["checklist"], lost_items = merge_keyed(
            leaves, "checklist", "item_id", ancestor, _no_item
        )
        losses += lost_items
    body, more_notes = finish_body(leaves, ancestor, fields)
    return make_result(body, "visit-note-merge", losses, notes + more_notes)


def merge_visit_notes(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None = None
) -> MergeResult:
    """Merge conflicting revisions of a visit note (rules in the module docstring)."""
    return with_deletions(leaves, ancestor, _merge_live)
