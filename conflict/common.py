"""Pieces shared by the merges that combine several live leaves into a new body.

A combined body (orders, visit notes) is written by nobody in particular, so:
``updated_at`` is the greatest ``updated_at`` of the leaves, ``updated_by`` is
:data:`~conflict.leaf.RESOLVER_ID` (``"resolver"``), ``schema_version`` the highest of the
leaves (a document upgraded on one device stays upgraded), keys sorted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conflict.attachments import merge_attachments, stubs
from conflict.deletions import doc_id
from conflict.leaf import RESOLVER_ID, Leaf, latest_updated_at

#: Fields :func:`finish_body` sets; type merges leave them out of their field merge.
BOOKKEEPING = frozenset({"updated_at", "updated_by", "schema_version"})


def max_schema_version(leaves: Sequence[Leaf]) -> int | None:
    versions = [
        v
        for leaf in leaves
        if isinstance(v := leaf.body.get("schema_version"), int) and not isinstance(v, bool)
    ]
    return max(versions) if versions else None


def finish_body(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Add ``_id``, attachments and the bookkeeping fields; returns the body and notes."""
    body: dict[str, Any] = dict(fields)
    ident = doc_id(leaves)
    if ident is not None:
        body["_id"] = ident
    notes: list[str] = []
    if any(stubs(leaf.body) for leaf in leaves):
        merged, notes = merge_attachments(leaves, ancestor)
        if merged:
            body["_attachments"] = merged
    updated_at = latest_updated_at(leaves)
    if updated_at is not None:
        body["updated_at"] = updated_at
    body["updated_by"] = RESOLVER_ID
    version = max_schema_version(leaves)
    if version is not None:
        body["schema_version"] = version
    return dict(sorted(body.items())), notes
