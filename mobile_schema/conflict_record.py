"""Conflict records: what the resolver merged and what lost (``fs_ops``; never written by devices).

conflict_record (schema 1)::

    {"_id": "conflict_record:<id>", "type": "conflict_record", "doc_id": "order:o-17",
     "doc_type": "order", "leaves": ["3-abc", "3-def"], "merged_rev": "4-123",
     "strategy": "order_merge",
     "overridden": [{"what": "lines[l2].qty", "lost_value": 5, "by": "backoffice"}],
     "user_ids": ["alice"], ...common fields}

``leaves`` are the revision ids that were in conflict (at least two); ``merged_rev`` is the
revision the resolver wrote, or the one it kept (strategy ``kept_shared_winner``). Both take
any generation up to 16 digits (:data:`RecordRevId`): a record must be able to name a leaf of
an implausible generation that the resolver refused to merge. ``overridden[].lost_value`` may
hold the tail of a visit note cut at its length bound (``what`` = ``text``). ``strategy`` is
a lower-case name chosen by the conflict package (e.g. ``order_merge``, ``visit_note_merge``,
``last_writer``, ``kept_shared_winner``). ``overridden`` lists every
value that lost (``lost_value`` is any JSON value; ``by`` is who won: a user id or a role);
``user_ids`` are the people to tell. ``pushed_by`` (added by the gateway's store when the record
is written) names, per leaf, the user whose device pushed it as the server recorded it (null:
written on the server, e.g. by the back office); unlike ``updated_by`` it cannot be forged.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, JsonValue, StringConstraints

from mobile_schema.base import Document, Strict
from mobile_schema.fields import KindName, RevId, UserId, fail, regex_check
from mobile_schema.ids import TYPE_PATTERN, split_id

MAX_LEAVES = 1_000
MAX_OVERRIDDEN = 1_000
RECORD_REV_PATTERN = r"^[1-9][0-9]{0,15}-[0-9A-Za-z]{1,128}$"
#: A revision id as a record names it: like a document's ``_rev``, with a wider generation.
RecordRevId = Annotated[
    str,
    StringConstraints(pattern=RECORD_REV_PATTERN),
    BeforeValidator(regex_check(RECORD_REV_PATTERN, 'a revision id like "3-a1b2c3"')),
]


class Overridden(Strict):
    """One value that lost in a merge."""

    what: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    lost_value: JsonValue
    by: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ConflictRecord(Document):
    """The audit trail of one conflict resolution."""

    TYPE: ClassVar[str] = "conflict_record"
    type: Literal["conflict_record"]
    schema_version: Literal[1]
    doc_id: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    doc_type: Annotated[str, StringConstraints(pattern=TYPE_PATTERN)]
    leaves: list[RecordRevId] = Field(min_length=2, max_length=MAX_LEAVES)
    merged_rev: RecordRevId
    strategy: KindName
    overridden: list[Overridden] = Field(default_factory=list, max_length=MAX_OVERRIDDEN)
    user_ids: list[UserId] = Field(default_factory=list, max_length=MAX_LEAVES)
    pushed_by: dict[RevId, UserId | None] = Field(default_factory=dict, max_length=MAX_LEAVES)

    def check(self) -> None:
        try:
            id_type, _ = split_id(self.doc_id)
        except ValueError as exc:
            raise fail(str(exc).replace("document id ", "", 1), field="doc_id") from None
        if id_type != self.doc_type:
            raise fail(
                f"must be the type of doc_id ({id_type!r}), got {self.doc_type!r}",
                field="doc_type",
            )
