"""Every leaf (and the ancestor) at the current schema version before any merge rule runs.

An order written by an app before 2.0 (schema 1: ``price`` number, ``discount`` fraction, no
``total``) may be in conflict with the back office's schema 2 revision of the same order. The
merge rules only know the current shape, so :func:`upgraded_leaf` lifts each leaf with
:func:`mobile_schema.upgrade_document` (pure, deterministic: two resolvers get the same body)
and the merge never sees two shapes:

- a leaf at the current version, a deletion, or a body of a type without versions: unchanged;
- an older leaf that is valid at its version: upgraded (underscore fields kept);
- an older leaf that is not valid (written by something that skipped the gateway): unchanged;
  the resolver validates the merged body and keeps the shared winner if it is not valid
  (:mod:`conflict.fallback`);
- the ancestor: upgraded like a leaf; when it is older and cannot be upgraded it is dropped
  (``None``): merging without the ancestor keeps every version, a wrong ancestor would not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conflict.leaf import Leaf
from mobile_schema import CURRENT_SCHEMA_VERSION, SchemaError, upgrade_document


def _is_older(body: Mapping[str, Any]) -> bool:
    doc_type = body.get("type")
    version = body.get("schema_version")
    if not isinstance(doc_type, str) or isinstance(version, bool) or not isinstance(version, int):
        return False
    current = CURRENT_SCHEMA_VERSION.get(doc_type)
    return current is not None and version < current


def upgraded_body(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``body`` at the current version; itself when not older; None when it cannot be lifted."""
    if not _is_older(body):
        return body
    try:
        return upgrade_document(body)
    except SchemaError:
        return None


def upgraded_leaf(leaf: Leaf) -> Leaf:
    """The leaf with its body at the current schema version (see the module docstring)."""
    if leaf.deleted:
        return leaf
    body = upgraded_body(leaf.body)
    if body is None or body is leaf.body:
        return leaf
    return Leaf(leaf.rev, body, leaf.deleted)


def upgraded_ancestor(ancestor: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The ancestor at the current version, or None when it is older and cannot be lifted."""
    return None if ancestor is None else upgraded_body(ancestor)
