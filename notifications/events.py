"""Notification events and how they read: a pure ``render(event) -> (title, body, data)``.

An :class:`Event` is what the router, the API, the resolver and the scheduled jobs hand to the
outbox: one message for one user. ``data`` maps strings to strings (FCM data payloads and the
``notification`` document both require it); :func:`render` fills a missing title / body from the
kind's template using ``data`` and always adds ``data["kind"]`` so the app can route a tap.

Rendered values always fit the ``notification`` document (mobile_schema): title 1-200
characters, body at most 2,000, at most 50 data entries with keys of at most 64 and values of at
most 1,000 characters; longer text is cut with an ellipsis.

``dedupe_key`` names the occurrence (``order_confirmed:order:o-17``): enqueuing an event with
the same key twice yields one outbox entry and one notification. ``sync now`` events are
data-only (no title shown), collapsible, and deduplicated per user per time window, which is the
debounce: :func:`sync_now` builds them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

MAX_TITLE = 200
MAX_BODY = 2_000
MAX_DATA_ENTRIES = 50
MAX_DATA_KEY = 64
MAX_DATA_VALUE = 1_000
SYNC_NOW_WINDOW_S = 30


class EventKind(enum.StrEnum):
    """The kinds of notification; the value is the ``kind`` of the notification document."""

    VISIT_ASSIGNED = "visit_assigned"
    VISIT_CHANGED = "visit_changed"
    VISIT_UNASSIGNED = "visit_unassigned"
    WORK_ORDER_ASSIGNED = "work_order_assigned"
    WORK_ORDER_CHANGED = "work_order_changed"
    WORK_ORDER_UNASSIGNED = "work_order_unassigned"
    TERRITORY_GAINED = "territory_gained"
    TERRITORY_LOST = "territory_lost"
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_REJECTED = "order_rejected"
    ORDER_SHIPPED = "order_shipped"
    CONFLICT_OVERRIDDEN = "conflict_overridden"
    VISIT_REMINDER = "visit_reminder"
    MORNING_PLAN = "morning_plan"
    DEVICE_STALE = "device_stale"
    SYNC_NOW = "sync_now"


# Default wording; placeholders are data keys, a missing key renders as "?".
TEMPLATES: dict[EventKind, tuple[str, str]] = {
    EventKind.VISIT_ASSIGNED: ("New visit", "Visit {account} at {scheduled_start}"),
    EventKind.VISIT_CHANGED: ("Visit changed", "Visit {account} is now {scheduled_start}"),
    EventKind.VISIT_UNASSIGNED: ("Visit removed", "Visit {account} is no longer yours"),
    EventKind.WORK_ORDER_ASSIGNED: ("New work order", "{problem}"),
    EventKind.WORK_ORDER_CHANGED: ("Work order changed", "{problem}"),
    EventKind.WORK_ORDER_UNASSIGNED: ("Work order removed", "{problem}"),
    EventKind.TERRITORY_GAINED: ("Territory added", "You now cover {territory_name}"),
    EventKind.TERRITORY_LOST: ("Territory removed", "You no longer cover {territory_name}"),
    EventKind.ORDER_CONFIRMED: ("Order confirmed", "Order {order_id} was confirmed"),
    EventKind.ORDER_REJECTED: ("Order rejected", "Order {order_id} was rejected: {reason}"),
    EventKind.ORDER_SHIPPED: ("Order shipped", "Order {order_id} has shipped"),
    EventKind.CONFLICT_OVERRIDDEN: (
        "Your change was overridden",
        "{doc_id}: {what} was set by {by}",
    ),
    EventKind.VISIT_REMINDER: ("Upcoming visit", "Visit {account} at {local_time}"),
    EventKind.MORNING_PLAN: (
        "Your plan for today",
        "{visit_count} visit(s) today, the first at {first_local_time}",
    ),
    EventKind.DEVICE_STALE: (
        "Device not syncing",
        "{device_user_id}'s device {device_id} last synced {last_sync}",
    ),
    EventKind.SYNC_NOW: ("Sync", ""),
}


@dataclass(frozen=True)
class Event:
    """One message for one user. Empty ``title``/``body`` take the kind's template."""

    kind: EventKind
    user_id: str
    title: str = ""
    body: str = ""
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str | None = None
    dedupe_key: str | None = None
    # False when the caller already put the notification document in the user's database
    # (the resolver does, beside its conflict record): push only, no second inbox entry
    with_document: bool = True

    @property
    def data_only(self) -> bool:
        """A silent message: no notification shown, no notification document."""
        return self.kind is EventKind.SYNC_NOW


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(event: Event) -> tuple[str, str, dict[str, str]]:
    """The title, body and data payload of an event, always within the document's limits."""
    data: dict[str, str] = {}
    for key, value in event.data.items():
        if len(data) >= MAX_DATA_ENTRIES - 1:  # one entry is kept for "kind"
            break
        if key and key != "kind" and len(key) <= MAX_DATA_KEY:
            data[key] = _cut(str(value), MAX_DATA_VALUE)
    data["kind"] = event.kind.value
    title_template, body_template = TEMPLATES[event.kind]
    values = _Defaulting(data)
    title = event.title or title_template.format_map(values)
    body = event.body or body_template.format_map(values)
    title = _cut(" ".join(title.split()), MAX_TITLE) or title_template
    return title, _cut(body, MAX_BODY), data


def sync_now(user_id: str, now: datetime, *, window_s: int = SYNC_NOW_WINDOW_S) -> Event:
    """The data-only "sync now" hint; one per user per ``window_s`` window (its dedupe key)."""
    window = int(now.timestamp()) // window_s
    return Event(
        kind=EventKind.SYNC_NOW,
        user_id=user_id,
        data={"action": "sync"},
        collapse_key="sync_now",
        dedupe_key=f"sync_now:{user_id}:{window_s}:{window}",
    )
