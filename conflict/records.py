"""The documents a resolution leaves behind besides the merged revision (pure, no I/O).

conflict_record (fs_ops, :class:`mobile_schema.ConflictRecord`), one per resolution::

    {"_id": "conflict_record:<doc id>:<merged rev>", "type": "conflict_record",
     "schema_version": 1, "doc_id": "order:o-17", "doc_type": "order",
     "leaves": ["3-abc", "3-def"], "merged_rev": "4-123", "strategy": "order_merge",
     "overridden": [{"what": "lines[l1].unit_price", "lost_value": "9.00",
                     "by": "back office (3-abc)"}],
     "user_ids": ["alice"], "updated_at": <when resolved>, "updated_by": "resolver"}

notification (the rep db of every user in ``user_ids``, :class:`mobile_schema.Notification`)::

    {"_id": "notification:conflict:<doc id>:<merged rev>", "type": "notification",
     "schema_version": 1, "user_id": "alice", "kind": "conflict_overridden",
     "title": "Your change to order o-17 was overridden",
     "body": "lines[l1].unit_price: 9.00 (back office (3-abc))",
     "data": {"doc_id", "merged_rev", "conflict_record_id"}, "read": false,
     "created_at": <when resolved>, ...}

Ids are derived from the document id and the merged revision, so two resolvers that merge the
same leaves write each document once (the second write is a 409, which means "done"). When
``<doc id>:<merged rev>`` is too long for an id (128 characters), the tail is replaced by an md5
of both. ``leaves`` are every leaf revision the merge read, deleted ones included, sorted the
way CouchDB orders revisions. Strings the schema bounds (``what``, ``by``, ``title``, ``body``)
are shortened, never refused; the ``strategy`` names of the merges (``order-merge``) are turned
into schema kind names (``order_merge``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from conflict.leaf import RESOLVER_ID
from conflict.plan import ResolutionPlan
from conflict.result import Overridden
from conflict.revid import canonical_json
from conflict.revtree import rev_key
from mobile_schema import ConflictRecord, Notification, split_id, to_json_dict
from mobile_schema.ids import is_local_id

NOTIFICATION_KIND = "conflict_overridden"
_MAX_LOCAL_ID = 128
_MAX_WHAT = 200
_MAX_BY = 128
_MAX_TITLE = 200
_MAX_BODY = 2_000
_MAX_LIST = 1_000


def _local_id(*parts: str) -> str:
    """``"a:b"``, or when that is no valid id part, a prefix plus an md5 of the parts."""
    joined = ":".join(parts)
    if is_local_id(joined):
        return joined
    digest = hashlib.md5(joined.encode("utf-8"), usedforsecurity=False).hexdigest()
    head = "".join(c if is_local_id(c) else "-" for c in parts[0])[: _MAX_LOCAL_ID - 34]
    return f"{head.lstrip('_') or 'x'}:{digest}"


def record_id(doc_id: str, merged_rev: str) -> str:
    """The ``_id`` of the conflict_record of one resolution."""
    return f"conflict_record:{_local_id(doc_id, merged_rev)}"


def notification_id(doc_id: str, merged_rev: str) -> str:
    """The ``_id`` of the notification about one resolution (the same in every rep db)."""
    return f"notification:{_local_id('conflict', doc_id, merged_rev)}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strategy_name(strategy: str) -> str:
    """``"order-merge"`` -> ``"order_merge"`` (the record's kind-name shape)."""
    name = "".join(c if c.isalnum() or c in "_." else "_" for c in strategy.lower())
    return name if name[:1].isalpha() else f"s_{name}"[:64]


def conflict_record(
    doc_id: str, leaf_revs: Sequence[str], plan: ResolutionPlan, now: str
) -> dict[str, Any]:
    """The conflict_record of a plan that writes something (``plan.merged_rev`` set), validated."""
    if plan.merged_rev is None:
        raise ValueError("a plan that writes nothing has no conflict record")
    doc_type, _ = split_id(doc_id)
    overridden = [
        {
            "what": _clip(item.what, _MAX_WHAT),
            "lost_value": item.lost_value,
            "by": _clip(item.by, _MAX_BY),
        }
        for item in plan.result.overridden[:_MAX_LIST]
    ]
    body: dict[str, Any] = {
        "_id": record_id(doc_id, plan.merged_rev),
        "type": "conflict_record",
        "schema_version": 1,
        "doc_id": doc_id,
        "doc_type": doc_type,
        "leaves": sorted(set(leaf_revs), key=rev_key)[:_MAX_LIST],
        "merged_rev": plan.merged_rev,
        "strategy": strategy_name(plan.result.strategy),
        "overridden": overridden,
        "user_ids": [u for u in plan.result.user_ids if is_local_id(u)][:_MAX_LIST],
        "updated_at": now,
        "updated_by": RESOLVER_ID,
    }
    return to_json_dict(ConflictRecord.model_validate(body))


def _summary(lost: Sequence[Overridden], user_id: str) -> str:
    """One line per value of ``user_id`` that lost (every loss when none is theirs)."""
    theirs = [item for item in lost if item.user_id == user_id] or list(lost)
    lines = [
        f"{item.what}: {_clip(canonical_json(item.lost_value), 120)} (lost to {item.by})"
        for item in theirs
    ]
    return _clip("\n".join(lines), _MAX_BODY)


def overridden_notification(
    record: dict[str, Any], user_id: str, lost: Sequence[Overridden], now: str
) -> dict[str, Any]:
    """The notification telling ``user_id`` that a change of theirs was overridden, validated.

    ``lost`` is the merge's ``overridden`` list (it names whose each value was)."""
    doc_type, local = split_id(record["doc_id"])
    title = f"Your change to {doc_type.replace('_', ' ')} {local} was overridden"
    body: dict[str, Any] = {
        "_id": notification_id(record["doc_id"], record["merged_rev"]),
        "type": "notification",
        "schema_version": 1,
        "user_id": user_id,
        "kind": NOTIFICATION_KIND,
        "title": _clip(title, _MAX_TITLE),
        "body": _summary(lost, user_id),
        "data": {
            "doc_id": record["doc_id"],
            "merged_rev": record["merged_rev"],
            "conflict_record_id": record["_id"],
        },
        "read": False,
        "created_at": now,
        "updated_at": now,
        "updated_by": RESOLVER_ID,
    }
    return to_json_dict(Notification.model_validate(body))
