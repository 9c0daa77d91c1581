"""Deterministic revision ids for what the resolver writes.

Two resolvers that see the same leaves must write the same revisions, or they would create a
new conflict while resolving the old one. So the ids are derived, not random:

- merged child of the winning leaf: ``f"{gen(winner)+1}-{md5(canonical)}"`` where canonical is
  the JSON (sorted keys, no whitespace, UTF-8) of ``{"leaves": sorted leaf revs, "body": body}``
  and the body has its underscore fields (``_id``, ``_rev``, ``_attachments``, ...) removed;
- tombstone that closes a losing leaf: ``f"{gen(leaf)+1}-{md5(canonical)}"`` over
  ``{"merged_rev": merged, "tombstone_of": leaf rev}``.

md5 gives 32 lowercase hex digits, the shape CouchDB itself uses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from conflict.revtree import rev_generation, rev_key


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(value: Any) -> str:
    return hashlib.md5(canonical_json(value).encode("utf-8"), usedforsecurity=False).hexdigest()


def public_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without CouchDB's underscore fields."""
    return {k: v for k, v in body.items() if not k.startswith("_")}


def merged_rev(winning_rev: str, leaf_revs: Iterable[str], body: Mapping[str, Any]) -> str:
    """Revision id of the merged child of ``winning_rev``."""
    revs = sorted(set(leaf_revs), key=rev_key)
    digest = _digest({"leaves": revs, "body": public_fields(body)})
    return f"{rev_generation(winning_rev) + 1}-{digest}"


def tombstone_rev(leaf_rev: str, merged: str) -> str:
    """Revision id of the deletion that closes the losing leaf ``leaf_rev``."""
    digest = _digest({"merged_rev": merged, "tombstone_of": leaf_rev})
    return f"{rev_generation(leaf_rev) + 1}-{digest}"
