"""Leaf revisions as the merge functions see them.

A :class:`Leaf` is one leaf of a document's revision tree: its revision id, its body (the JSON
document as CouchDB returns it with ``open_revs=all&revs=true``, underscore fields included) and
whether it is a deletion. Ordering helpers live here too, because every rule needs them:

- :func:`timestamp_key` orders ``updated_at`` values (UTC ISO-8601, ``Z`` or an offset);
  a missing or unreadable time sorts before every real one.
- :func:`leaf_key` is the "last writer" key: ``(updated_at, revision)``; ties of ``updated_at``
  are broken by the revision id as CouchDB orders them (generation, then hash).
- :func:`leaf_user` names whom to tell when the leaf's change was overridden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conflict.revtree import history, rev_key
from mobile_schema import OWNER_FIELD

_EPOCH = datetime.min.replace(tzinfo=UTC)

#: The ``updated_by`` of a body the resolver merged from several leaves.
RESOLVER_ID = "resolver"


@dataclass(frozen=True)
class Leaf:
    """One leaf revision of a document."""

    rev: str
    body: Mapping[str, Any] = field(hash=False)
    deleted: bool = False

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Leaf:
        """Build a leaf from a document carrying ``_rev`` (and ``_deleted`` when deleted)."""
        return cls(rev=str(doc.get("_rev", "")), body=doc, deleted=bool(doc.get("_deleted")))

    @property
    def history(self) -> tuple[str, ...]:
        """This leaf's path, newest first, from its ``_revisions`` (just itself without them)."""
        revisions = self.body.get("_revisions")
        return history(self.rev, revisions if isinstance(revisions, Mapping) else None)

    @property
    def updated_at(self) -> str | None:
        value = self.body.get("updated_at")
        return value if isinstance(value, str) else None


def leaves_from_open_revs(rows: Iterable[Mapping[str, Any]]) -> list[Leaf]:
    """Leaves from a ``GET /db/doc?open_revs=all`` answer (``[{"ok": doc}, {"missing": rev}]``)."""
    return [Leaf.from_doc(row["ok"]) for row in rows if isinstance(row.get("ok"), Mapping)]


def timestamp_key(value: Any) -> tuple[datetime, str]:
    """Sort key of an ``updated_at`` value; unreadable or missing values sort first."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return (_EPOCH, value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return (parsed, value)
    return (_EPOCH, "")


def leaf_key(leaf: Leaf) -> tuple[tuple[datetime, str], tuple[int, str]]:
    """Last-writer key: ``(updated_at, revision)``."""
    return (timestamp_key(leaf.body.get("updated_at")), rev_key(leaf.rev))


def latest_updated_at(leaves: Iterable[Leaf]) -> str | None:
    """The greatest ``updated_at`` among the leaves (by time, ties by text)."""
    best: str | None = None
    for leaf in leaves:
        value = leaf.updated_at
        if value is not None and (best is None or timestamp_key(value) > timestamp_key(best)):
            best = value
    return best


# only these are edited in the field by their owner alone (see leaf_user)
_OWNER_FIELDS = {t: OWNER_FIELD[t] for t in ("order", "visit_note")}


def leaf_user(leaf: Leaf) -> str | None:
    """Whom to notify when this leaf's change is overridden.

    Orders and visit notes are edited in the field only by their owner (``rep_id`` /
    ``author_id``), and ``updated_by`` may name a device rather than a user, so the owner is
    preferred for a rep's order (status draft or submitted) and for a note; otherwise
    ``updated_by``, then any owner field.
    """
    body = leaf.body
    doc_type = body.get("type")
    owner = _OWNER_FIELDS.get(doc_type) if isinstance(doc_type, str) else None
    prefer_owner = owner is not None and (
        doc_type != "order" or body.get("status") in (None, "draft", "submitted")
    )
    candidates = [owner] if prefer_owner and owner else []
    candidates += ["updated_by", "rep_id", "author_id"]
    for name in candidates:
        value = body.get(name)
        if isinstance(value, str) and value and value != RESOLVER_ID:
            return value
    return None
