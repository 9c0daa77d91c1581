"""What the resolver writes when a leaf cannot be merged: never stuck, nothing lost unsaid.

The resolver accepted every leaf it reads (they are in the shared database), so it must end
every conflict; a leaf it cannot merge is recorded and closed, and the shared winner is kept.
:func:`safe_plan` (pure) builds the plan in this order:

1. *Implausible revisions*: a live leaf whose generation is above :data:`MAX_GENERATION` (a
   child of it would not be a valid revision id, e.g. ``999999999-x``) is never merged nor
   written under: it is closed with a tombstone, each of its values is recorded as lost (told to
   its owner) and the other leaves are merged as usual.
2. The merge of the rest (:func:`conflict.plan.resolution_plan`). Its body must validate
   (:func:`mobile_schema.validate_document`, for the types the schema knows): then it is the
   plan.
3. Otherwise (a :class:`~conflict.errors.ConflictError` or an invalid merged body): the leaves
   whose own body is invalid are set aside like (1) and the valid ones merged, if that gives a
   valid body.
4. Otherwise *keep the shared winner*: CouchDB's winner among the plausible leaves whose body
   validates (any plausible leaf when none does) stays as it is; every other live leaf is closed
   and its differing values recorded. The record's ``merged_rev`` is then the kept revision and
   its strategy ``kept_shared_winner``.

Every plan is deterministic (same leaves, same revisions), so two resolvers agree, and running
again finds a single live leaf: nothing left to retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conflict.deletions import normalize, strip_meta
from conflict.errors import ConflictError
from conflict.fields import ABSENT, lost, same
from conflict.leaf import Leaf, leaf_user
from conflict.owners import document_owner
from conflict.plan import ResolutionPlan, _revisions, resolution_plan
from conflict.result import MergeResult, Overridden, make_result
from conflict.revid import tombstone_rev
from conflict.revtree import rev_generation, winning_leaf
from conflict.upgrade import upgraded_body
from mobile_schema import CURRENT_SCHEMA_VERSION, SchemaError, validate_document

#: The highest generation a leaf may have for the resolver to write a child under it: the
#: child's id must still be a revision id (at most 9 digits of generation).
MAX_GENERATION = 999_999_998
KEPT = "kept-shared-winner"
_NOT_REPORTED = frozenset({"_id", "updated_at", "updated_by", "schema_version"})


def problem_of(body: Mapping[str, Any]) -> str | None:
    """Why ``body`` is not a valid document of its (known) type; None when it is or unknown."""
    doc_type = body.get("type")
    if not isinstance(doc_type, str) or doc_type not in CURRENT_SCHEMA_VERSION:
        return None  # a type the schema does not know: nothing to hold it to
    try:
        validate_document(body)
    except SchemaError as exc:
        return str(exc)
    return None


def _leaf_problem(leaf: Leaf) -> str | None:
    body = upgraded_body(leaf.body)
    return "cannot be upgraded" if body is None else problem_of(body)


def _set_aside(
    leaves: Sequence[Leaf], body: Mapping[str, Any], why: str, owner: str | None
) -> list[Overridden]:
    """Every value of ``leaves`` that ``body`` does not carry, with ``why``."""
    losses = []
    for leaf in leaves:
        other = strip_meta(leaf.body)
        user = leaf_user(leaf) or owner
        for name in sorted(set(other) | set(strip_meta(body))):
            if name in _NOT_REPORTED:
                continue
            value = other.get(name, ABSENT)
            if not same(value, body.get(name, ABSENT)):
                losses.append(Overridden(name, lost(value), why[:128], leaf.rev, user))
    return losses


def _with_closed(
    plan: ResolutionPlan, closed: Sequence[Leaf], why: str, ancestor: Mapping[str, Any] | None
) -> ResolutionPlan:
    """``plan`` plus a tombstone for each leaf of ``closed`` and their values on record."""
    if not closed:
        return plan
    assert plan.merged_rev is not None
    owner = document_owner(plan.result.body, ancestor)
    result = plan.result
    merged = make_result(
        result.body,
        result.strategy,
        [*result.overridden, *_set_aside(closed, result.body, why, owner)],
        [*result.notes, f"{why}: {', '.join(leaf.rev for leaf in closed)}"],
    )
    docs = list(plan.docs)
    tombs = list(plan.tombstone_revs)
    for leaf in closed:
        rev = tombstone_rev(leaf.rev, plan.merged_rev)
        tombs.append(rev)
        docs.append(
            {"_id": leaf.body.get("_id"), "_rev": rev, "_deleted": True, **_tomb(rev, leaf)}
        )
    return plan._replace(result=merged, tombstone_revs=tuple(tombs), docs=tuple(docs))


def _tomb(rev: str, leaf: Leaf) -> dict[str, Any]:
    return {"_revisions": _revisions(rev, leaf)}


def _kept(leaves: Sequence[Leaf], live: Sequence[Leaf], why: str) -> ResolutionPlan:
    """Keep CouchDB's winner of ``leaves`` as it is; close every other leaf of ``live``."""
    kept = winning_leaf(leaves)
    body = strip_meta(kept.body)
    empty = MergeResult(body=body, strategy=KEPT)
    plan = ResolutionPlan(kept.rev, dict(kept.body), (), empty, (), ())
    others = [leaf for leaf in live if leaf.rev != kept.rev]
    return _with_closed(plan, others, why, None)


def _valid_plan(leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None) -> ResolutionPlan | str:
    """The normal plan when it works and its body validates; else why not."""
    try:
        plan = resolution_plan(leaves, ancestor)
    except ConflictError as exc:
        return f"merge failed: {exc}"
    if plan.merged_rev is None:
        return plan
    problem = problem_of(plan.result.body)
    return plan if problem is None else f"merged body invalid: {problem}"


def safe_plan(leaves: Sequence[Leaf], ancestor: Mapping[str, Any] | None = None) -> ResolutionPlan:
    """The plan the resolver writes (rules in the module docstring)."""
    ordered = normalize(leaves)
    live = [leaf for leaf in ordered if not leaf.deleted]
    dead = [leaf for leaf in ordered if leaf.deleted]
    absurd = [leaf for leaf in live if rev_generation(leaf.rev) > MAX_GENERATION]
    plausible = [leaf for leaf in live if leaf not in absurd]
    if not plausible:  # nothing the resolver could write under: nothing it can do
        return ResolutionPlan(None, {}, (), MergeResult(body={}, strategy="none"), (), ())
    implausible = "revision generation implausible, not merged"
    if absurd and len(plausible) == 1:
        return _kept(plausible, live, implausible)
    first = _valid_plan([*plausible, *dead], ancestor)
    if isinstance(first, ResolutionPlan):
        return _with_closed(first, absurd, implausible, ancestor)
    valid = [leaf for leaf in plausible if _leaf_problem(leaf) is None]
    invalid = [leaf for leaf in plausible if leaf not in valid]
    if len(valid) >= 2 and invalid:
        second = _valid_plan([*valid, *dead], ancestor)
        if isinstance(second, ResolutionPlan) and second.merged_rev is not None:
            second = _with_closed(second, invalid, "invalid leaf, not merged", ancestor)
            return _with_closed(second, absurd, implausible, ancestor)
    return _kept(valid or plausible, live, f"shared winner kept ({first})")
