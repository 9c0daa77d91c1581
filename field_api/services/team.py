"""The manager's team view: per field user, sync health and the day's work.

One entry per rep and engineer (``GET /api/v1/team``)::

    {"user_id": "alice", "name": "Alice", "role": "rep", "active": true,
     "devices": [{"device_id", "platform", "last_pull", "last_push"}],
     "last_pull": "<ts>" | null, "last_push": "<ts>" | null,     newest over the devices
     "pending_changes": 3, "pending_capped": false,
     "open_conflicts": 0, "orders_today": 2, "visits_planned": 4, "visits_done": 1}

What the numbers mean, and what they cost (each is bounded, nothing scans a whole database):

pending_changes
    Documents in the user's database that changed after their devices last pulled: among the
    newest :data:`PENDING_WINDOW` changes of ``rep_<id>``, those whose ``updated_at`` is later
    than the newest ``last_pull`` of the user's devices. With no pull ever, the document count
    of the database (everything is still to come). ``pending_capped`` is true when the whole
    window counted, so there may be more. An approximation: a document that reached the
    database late but carries an old ``updated_at`` (an account of a newly gained territory)
    is not counted, and ``last_pull`` is recorded every few seconds, not per document.
open_conflicts
    Documents with more than one live leaf among the newest :data:`CONFLICT_WINDOW` changes
    of ``rep_<id>`` (``style=all_docs`` finds candidates, ``_all_docs?conflicts=true`` confirms
    them). The resolver merges conflicts of fs_orders / fs_field within seconds, so a lasting
    count means something is stuck.
orders_today
    Orders of the user in fs_orders with ``submitted_at`` on ``day`` (UTC).
visits_planned / visits_done
    Visits assigned to the user in fs_field scheduled on ``day`` (UTC), except cancelled ones /
    those of them with status ``done``.

The day counts come from two map/reduce views (``_design/fs_team`` in fs_orders and fs_field,
``_count`` reduce, one grouped query each for the whole team), created on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from mobile_schema import FIELD_ROLES
from sync_gateway.auth.devices import DEVICE_ID_RE, DeviceStore
from sync_gateway.auth.users import UserStore
from sync_gateway.couch import CouchClient, CouchNotFound, ensure_design
from sync_gateway.databases import Databases

PENDING_WINDOW: Final = 200
CONFLICT_WINDOW: Final = 1_000
CONCURRENCY: Final = 8
DESIGN_ID: Final = "_design/fs_team"
ORDERS_VIEW: Final = "orders_by_day_rep"
VISITS_VIEW: Final = "visits_by_day_assignee"
ORDERS_VIEWS: Final[dict[str, dict[str, str]]] = {
    ORDERS_VIEW: {
        "map": "function (doc) { if (doc.type === 'order' && doc.rep_id && "
        "typeof doc.submitted_at === 'string') "
        "{ emit([doc.submitted_at.slice(0, 10), doc.rep_id], null); } }",
        "reduce": "_count",
    }
}
FIELD_VIEWS: Final[dict[str, dict[str, str]]] = {
    VISITS_VIEW: {
        "map": "function (doc) { if (doc.type === 'visit' && doc.assignee_id && "
        "typeof doc.scheduled_start === 'string') "
        "{ emit([doc.scheduled_start.slice(0, 10), doc.assignee_id, doc.status], null); } }",
        "reduce": "_count",
    }
}


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


async def ensure_views(couch: CouchClient, dbs: Databases, ready: set[str]) -> None:
    """Once per process (``ready``: the design documents it has installed)."""
    if DESIGN_ID in ready:
        return
    await ensure_design(couch, dbs.orders, DESIGN_ID, ORDERS_VIEWS)
    await ensure_design(couch, dbs.field, DESIGN_ID, FIELD_VIEWS)
    ready.add(DESIGN_ID)


async def _grouped(
    couch: CouchClient, db: str, view: str, day: str, level: int
) -> list[dict[str, Any]]:
    return await couch.view(
        db, DESIGN_ID, view, startkey=[day], endkey=[day, {}], group_level=level
    )


async def day_counts(couch: CouchClient, dbs: Databases, day: str) -> dict[str, dict[str, int]]:
    """user id -> {"orders_today", "visits_planned", "visits_done"} for ``day``."""
    counts: dict[str, dict[str, int]] = {}

    def entry(user_id: str) -> dict[str, int]:
        return counts.setdefault(
            user_id, {"orders_today": 0, "visits_planned": 0, "visits_done": 0}
        )

    orders, visits = await asyncio.gather(
        _grouped(couch, dbs.orders, ORDERS_VIEW, day, 2),
        _grouped(couch, dbs.field, VISITS_VIEW, day, 3),
    )
    for row in orders:
        entry(row["key"][1])["orders_today"] += int(row["value"])
    for row in visits:
        _, user_id, status = row["key"]
        if status == "cancelled":
            continue
        entry(user_id)["visits_planned"] += int(row["value"])
        if status == "done":
            entry(user_id)["visits_done"] += int(row["value"])
    return counts


async def pending_changes(
    couch: CouchClient, db: str, last_pull: str | None, window: int = PENDING_WINDOW
) -> tuple[int, bool]:
    """(count, capped) as the module docstring defines them."""
    if last_pull is None:
        return int((await couch.db_info(db)).get("doc_count", 0)), False
    page = await couch.changes(db, descending=True, limit=window, include_docs=True)
    newer = 0
    for row in page.results:
        doc = row.get("doc") or {}
        stamp = doc.get("updated_at")
        if row["id"].startswith("_design/") or not isinstance(stamp, str):
            continue
        if stamp > last_pull:
            newer += 1
    return newer, newer >= window


async def open_conflicts(couch: CouchClient, db: str, window: int = CONFLICT_WINDOW) -> int:
    page = await couch.changes(db, descending=True, limit=window, style="all_docs")
    candidates = sorted({row["id"] for row in page.results if len(row.get("changes", ())) > 1})
    if not candidates:
        return 0
    result = await couch.all_docs(db, keys=candidates, include_docs=True, conflicts=True)
    return sum(1 for row in result["rows"] if (row.get("doc") or {}).get("_conflicts"))


async def member(
    couch: CouchClient, dbs: Databases, devices: DeviceStore, user: Mapping[str, Any]
) -> dict[str, Any]:
    user_id = user["id"]
    docs = await devices.list_devices(user_id)
    device_rows = [
        {k: d.get(k) for k in ("device_id", "platform", "last_pull", "last_push")} for d in docs
    ]
    for row in device_rows:
        # records made before /sync checked X-Device-Id may hold any text: never shown raw
        if not isinstance(row["device_id"], str) or not DEVICE_ID_RE.match(row["device_id"]):
            row["device_id"] = "(invalid device id)"
    last_pull = max((d["last_pull"] for d in device_rows if d["last_pull"]), default=None)
    last_push = max((d["last_push"] for d in device_rows if d["last_push"]), default=None)
    db = dbs.rep(user_id)
    try:
        pending, capped = await pending_changes(couch, db, last_pull)
        conflicts = await open_conflicts(couch, db)
    except CouchNotFound:  # the router has not created the database yet
        pending, capped, conflicts = 0, False, 0
    return {
        "user_id": user_id,
        "name": user.get("name"),
        "role": user.get("role"),
        "active": user.get("active", True),
        "devices": device_rows,
        "last_pull": last_pull,
        "last_push": last_push,
        "pending_changes": pending,
        "pending_capped": capped,
        "open_conflicts": conflicts,
    }


async def team_view(
    couch: CouchClient,
    dbs: Databases,
    users: UserStore,
    devices: DeviceStore,
    ready: set[str],
    *,
    day: str | None = None,
) -> dict[str, Any]:
    """``{"day", "users": [...]}``, one entry per field user ordered by id."""
    day = day or today()
    await ensure_views(couch, dbs, ready)
    people = sorted(
        (u for u in await users.list_users() if u.get("role") in FIELD_ROLES),
        key=lambda u: str(u["id"]),
    )
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(user: Mapping[str, Any]) -> dict[str, Any]:
        async with sem:
            return await member(couch, dbs, devices, user)

    counts, rows = await asyncio.gather(
        day_counts(couch, dbs, day), asyncio.gather(*(one(u) for u in people))
    )
    empty = {"orders_today": 0, "visits_planned": 0, "visits_done": 0}
    return {"day": day, "users": [{**row, **counts.get(row["user_id"], empty)} for row in rows]}
