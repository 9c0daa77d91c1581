"""Union of attachment stubs (``_attachments``) across leaves.

A stub is ``{"content_type", "digest", "length", "revpos", "stub": true}`` under its file name.
Leaves are read winner first (CouchDB's winner order), names in sorted order:

- a name not yet taken keeps its stub;
- the same name with the same digest is the same file: kept once (the first stub seen);
- the same name with a different digest: both files are kept; the later one is renamed
  ``"<stem> (2)<ext>"`` (then ``(3)``, ...) unless a file with its digest is already kept
  under another name, and the rename is noted;
- with the ancestor's body: a file the ancestor had that some leaf removed, while no leaf
  changed it (same name, other digest), stays removed.

A stub that is not the winning leaf's own (another leaf's file, or a renamed one) cannot be sent
back as a stub on the winner's branch: the resolver must fetch its data from the leaf named by
:func:`attachment_sources` and send it inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conflict.leaf import Leaf
from conflict.revtree import winner_key


@dataclass(frozen=True)
class AttachmentSource:
    """Where the data of a merged attachment lives: ``source_name`` at revision ``source_rev``."""

    name: str
    source_rev: str
    source_name: str
    digest: str | None


def stubs(body: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The ``_attachments`` stubs of a body (empty when it has none)."""
    value = body.get("_attachments") if body is not None else None
    if not isinstance(value, Mapping):
        return {}
    return {str(k): dict(v) for k, v in value.items() if isinstance(v, Mapping)}


def _digest(stub: Mapping[str, Any]) -> str | None:
    value = stub.get("digest")
    return value if isinstance(value, str) else None


def free_name(name: str, taken: Mapping[str, Any]) -> str:
    """``"photo (2).jpg"``, ``"photo (3).jpg"``, ... whichever is first not in ``taken``."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        if candidate not in taken:
            return candidate
        n += 1


def merge_attachments(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The merged ``_attachments`` and notes about renamed files."""
    ordered = sorted(leaves, key=winner_key, reverse=True)
    per_leaf = [stubs(leaf.body) for leaf in ordered]
    removed: set[tuple[str, str | None]] = set()
    for name, stub in stubs(ancestor).items():
        holders = [s[name] for s in per_leaf if name in s]
        if len(holders) < len(per_leaf) and all(_digest(h) == _digest(stub) for h in holders):
            removed.add((name, _digest(stub)))
    merged: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for leaf, atts in zip(ordered, per_leaf, strict=True):
        for name in sorted(atts):
            stub = atts[name]
            digest = _digest(stub)
            if (name, digest) in removed:
                continue
            if name not in merged:
                merged[name] = stub
                continue
            if _digest(merged[name]) == digest:
                continue
            if any(_digest(s) == digest for s in merged.values()):
                continue
            new_name = free_name(name, merged)
            merged[new_name] = stub
            notes.append(f"attachment {name!r} of {leaf.rev} kept as {new_name!r}")
    return dict(sorted(merged.items())), notes


def attachment_sources(
    leaves: Sequence[Leaf], merged: Mapping[str, Mapping[str, Any]]
) -> list[AttachmentSource]:
    """For each merged attachment the winning leaf does not hold as is: where its data is."""
    ordered = sorted(leaves, key=winner_key, reverse=True)
    winner_atts = stubs(ordered[0].body) if ordered else {}
    sources: list[AttachmentSource] = []
    for name, stub in sorted(merged.items()):
        digest = _digest(stub)
        if name in winner_atts and _digest(winner_atts[name]) == digest:
            continue
        for leaf in ordered:
            found = sorted(n for n, s in stubs(leaf.body).items() if _digest(s) == digest)
            if found:
                sources.append(AttachmentSource(name, leaf.rev, found[0], digest))
                break
    return sources
