"""Notifications shown to a field user (``rep_<id>``; the device may only mark them read).

notification (schema 1)::

    {"_id": "notification:<id>", "type": "notification", "user_id": "alice",
     "kind": "order_confirmed", "title": "Order o-17 confirmed", "body": "..." ,
     "data": {"order_id": "order:o-17"}, "read": false, "created_at": ts, ...common fields}

``kind`` is a lower-case name chosen by the notifications package (``order_confirmed``,
``visit_assigned``, ``conflict_overridden`` ...); this schema fixes only its shape, so new kinds
need no schema change. ``data`` maps strings to strings because FCM data payloads are string
maps; it holds at most 50 entries.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from mobile_schema.base import Document
from mobile_schema.fields import KindName, Name, Note, Timestamp, UserId

MAX_DATA_ENTRIES = 50
DataKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DataValue = Annotated[str, StringConstraints(max_length=1_000)]


class Notification(Document):
    """A message for one user, shown in the app and possibly pushed through FCM."""

    TYPE: ClassVar[str] = "notification"
    type: Literal["notification"]
    schema_version: Literal[1]
    user_id: UserId
    kind: KindName
    title: Name
    body: Note = ""
    data: dict[DataKey, DataValue] = Field(default_factory=dict, max_length=MAX_DATA_ENTRIES)
    read: bool = False
    created_at: Timestamp
