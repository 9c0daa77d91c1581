"""What the resolver writes for one conflicted document.

Given the leaves (``open_revs=all&revs=true``) and, when CouchDB still has it, the common
ancestor's body, :func:`resolution_plan` says exactly which documents to send in one
``_bulk_docs`` with ``new_edits: false``:

1. the merged body as a child of the winning leaf (CouchDB's winner): ``_rev`` from
   :func:`conflict.revid.merged_rev`, ``_revisions`` = the new hash followed by the winner's
   own history, so it attaches under the winner in every database;
2. a tombstone (``_deleted: true``) as a child of every other live leaf, ``_rev`` from
   :func:`conflict.revid.tombstone_rev`.

Both ids are derived from the leaves and the body, so two resolvers working at once write the
same revisions and CouchDB keeps one copy. Deleted leaves are already closed and get nothing.
With fewer than two live leaves there is nothing to write (``docs`` empty): the document shows
its one live leaf already; ``result`` still lists any deletion that lost, for the record.

Attachment stubs in the merged body that the winning leaf does not itself hold
(``attachment_sources``) must be sent with their data: the resolver fetches each from
``source_rev``/``source_name`` and replaces the stub before writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from conflict.attachments import AttachmentSource, attachment_sources, stubs
from conflict.deletions import normalize
from conflict.leaf import Leaf
from conflict.merge import merge
from conflict.result import MergeResult
from conflict.revid import merged_rev, tombstone_rev
from conflict.revtree import parse_rev, winning_leaf


class ResolutionPlan(NamedTuple):
    merged_rev: str | None  # None when nothing is written
    body: dict[str, Any]  # the merged document as written (with _id, _rev, _revisions)
    tombstone_revs: tuple[str, ...]
    result: MergeResult
    docs: tuple[dict[str, Any], ...]  # for _bulk_docs new_edits=false, merged doc first
    attachment_sources: tuple[AttachmentSource, ...]


def _revisions(rev: str, parent: Leaf) -> dict[str, Any]:
    gen, digest = parse_rev(rev)
    ids = [digest] + [parse_rev(r)[1] for r in parent.history]
    return {"start": gen, "ids": ids}


def resolution_plan(
    leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None = None
) -> ResolutionPlan:
    """The merge of ``leaves`` and the documents that write it (see the module docstring)."""
    ordered = normalize(leaves)
    result = merge(ordered, ancestor)
    live = [leaf for leaf in ordered if not leaf.deleted]
    if len(live) < 2:
        return ResolutionPlan(None, result.body, (), result, (), ())
    winner = winning_leaf(live)
    new_rev = merged_rev(winner.rev, [leaf.rev for leaf in ordered], result.body)
    body = {**result.body, "_rev": new_rev, "_revisions": _revisions(new_rev, winner)}
    doc_id = body.get("_id")
    docs: list[dict[str, Any]] = [body]
    tombstones: list[str] = []
    for leaf in live:
        if leaf is winner:
            continue
        rev = tombstone_rev(leaf.rev, new_rev)
        tombstones.append(rev)
        docs.append(
            {"_id": doc_id, "_rev": rev, "_deleted": True, "_revisions": _revisions(rev, leaf)}
        )
    sources = attachment_sources(live, stubs(result.body))
    return ResolutionPlan(new_rev, body, tuple(tombstones), result, tuple(docs), tuple(sources))
