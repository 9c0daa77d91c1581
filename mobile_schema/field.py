"""Field work: visits, visit notes and work orders (``fs_field`` <-> ``rep_<id>``).

visit (schema 1)::

    {"_id": "visit:<id>", "type": "visit", "assignee_id": "bob", "account_id": "account:<id>",
     "kind": "sales" | "service", "status": "planned" | "in_progress" | "done" | "cancelled",
     "scheduled_start": ts | null, "scheduled_end": ts | null, "check_in": ts | null,
     "check_out": ts | null, "work_order_id": "work_order:<id>" | null, ...common fields}

visit_note (schema 1; photos are CouchDB attachments of the note)::

    {"_id": "visit_note:<id>", "type": "visit_note", "visit_id": "visit:<id>",
     "author_id": "bob", "text": "...", "checklist": [{"item_id": "c1", "label": "Check pump",
     "done": false, "updated_at": ts}], ...common fields}

work_order (schema 1)::

    {"_id": "work_order:<id>", "type": "work_order", "account_id": "account:<id>",
     "assignee_id": "bob" | null, "priority": "low" | "normal" | "high" | "urgent",
     "status": "open" | "assigned" | "in_progress" | "done" | "cancelled",
     "problem": "...", "resolution": "..." | null, "sla_due": ts | null, ...common fields}

Times are UTC timestamps. A schedule never ends before it starts (``scheduled_end >=
scheduled_start``: one writer, one clock), and a visit cannot be checked out without a check-in.
``check_out`` is *not* required to be after ``check_in``: the two are stamped by device clocks,
often hours off, and not always the same device's or the same setting (checked in on the phone,
checked out on the tablet; a clock corrected in between); refusing the check-out would lose it.
Unplanned visits (created by a rep on the spot) have no schedule. Checklist ``item_id`` is unique
per note.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field

from mobile_schema.base import Document, Strict
from mobile_schema.fields import (
    AccountRef,
    LocalId,
    LongText,
    Name,
    Timestamp,
    UserId,
    VisitRef,
    WorkOrderRef,
    fail,
)

MAX_CHECKLIST_ITEMS = 200

VisitKind = Literal["sales", "service"]
VisitStatus = Literal["planned", "in_progress", "done", "cancelled"]
WorkOrderStatus = Literal["open", "assigned", "in_progress", "done", "cancelled"]
Priority = Literal["low", "normal", "high", "urgent"]
VISIT_KINDS: Final[tuple[str, ...]] = ("sales", "service")
VISIT_STATUSES: Final[tuple[str, ...]] = ("planned", "in_progress", "done", "cancelled")
WORK_ORDER_STATUSES: Final[tuple[str, ...]] = (
    "open",
    "assigned",
    "in_progress",
    "done",
    "cancelled",
)
# Lowest first, so sorting by PRIORITIES.index(...) descending lists urgent work first.
PRIORITIES: Final[tuple[str, ...]] = ("low", "normal", "high", "urgent")


class Visit(Document):
    """A planned or unplanned visit of a field user to an account."""

    TYPE: ClassVar[str] = "visit"
    type: Literal["visit"]
    schema_version: Literal[1]
    assignee_id: UserId
    account_id: AccountRef
    kind: VisitKind
    status: VisitStatus
    scheduled_start: Timestamp | None = None
    scheduled_end: Timestamp | None = None
    check_in: Timestamp | None = None
    check_out: Timestamp | None = None
    work_order_id: WorkOrderRef | None = None

    def check(self) -> None:
        # Fixed-width UTC timestamps compare correctly as strings.
        if self.scheduled_start and self.scheduled_end:
            if self.scheduled_end < self.scheduled_start:
                raise fail(
                    f"must not be before scheduled_start ({self.scheduled_start}), "
                    f"got {self.scheduled_end}",
                    field="scheduled_end",
                )
        if self.check_out is not None and self.check_in is None:
            raise fail("needs a check_in first", field="check_out")
        # no check_out >= check_in: the stamps may come from two clocks (module docstring)


class ChecklistItem(Strict):
    """One checklist entry of a visit note; merged by ``item_id`` using its ``updated_at``."""

    item_id: LocalId
    label: Name
    done: bool = False
    updated_at: Timestamp


class VisitNote(Document):
    """What a field user wrote about a visit."""

    TYPE: ClassVar[str] = "visit_note"
    type: Literal["visit_note"]
    schema_version: Literal[1]
    visit_id: VisitRef
    author_id: UserId
    text: LongText = ""
    checklist: list[ChecklistItem] = Field(default_factory=list, max_length=MAX_CHECKLIST_ITEMS)

    def check(self) -> None:
        seen: set[str] = set()
        for index, item in enumerate(self.checklist):
            if item.item_id in seen:
                raise fail(f"duplicate item_id {item.item_id!r}", field=f"checklist[{index}]")
            seen.add(item.item_id)


class WorkOrder(Document):
    """A service job at an account, assigned to an engineer."""

    TYPE: ClassVar[str] = "work_order"
    type: Literal["work_order"]
    schema_version: Literal[1]
    account_id: AccountRef
    assignee_id: UserId | None = None
    priority: Priority = "normal"
    status: WorkOrderStatus
    problem: LongText = Field(min_length=1)
    resolution: LongText | None = None
    sla_due: Timestamp | None = None
