"""Scheduled jobs, and the APScheduler 3.11 scheduler that runs them while holding the lease.

Each job is an async method taking ``now`` (an aware datetime), so tests drive them with any
clock; each is idempotent through dedupe keys, so running one twice (two ticks, a takeover
between processes) enqueues nothing twice:

=================  ===========================================  ==================================
job                what                                         dedupe key
=================  ===========================================  ==================================
dispatch           one :class:`Dispatcher` round (retries too)  (outbox states)
visit_reminders    planned visits starting in (now, now+lead]   visit_reminder:<visit>:<start>
morning_plans      at 07:00-08:00 in each field user's time     morning_plan:<user>:<local date>
                   zone: the count and first time of the day's
                   planned visits (none: no message)
stale_devices      devices not synced for 24 h -> every         device_stale:<device>:<last sync>
                   manager (push + live event)
housekeeping       delete old sent / dead outbox entries        -
=================  ===========================================  ==================================

Visits are read from ``fs_field`` through the views of ``_design/notifications`` there
(:data:`FIELD_VIEWS`: planned visits by start, and by ``[assignee, start]``); users and devices
from ``user:`` / ``device:`` documents in the ops database (shapes in ``sync_gateway/auth``).
A user's ``time_zone`` is an IANA name; a missing or unknown one counts as UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from mobile_schema import FIELD_ROLES, format_timestamp, parse_timestamp, utc_now_datetime

from .dispatcher import Dispatcher, DispatchReport
from .events import Event, EventKind
from .lease import Lease
from .live import LiveHub
from .outbox import Outbox
from .store import DocStore, docs_with_prefix, ensure_design, view

log = structlog.get_logger(__name__)

_PLANNED = (
    "doc.type === 'visit' && doc.status === 'planned' && doc.scheduled_start && doc.assignee_id"
)
FIELD_VIEWS = {
    "visits_by_start": f"function (doc) {{ if ({_PLANNED}) emit(doc.scheduled_start, null); }}",
    "visits_by_assignee": (
        f"function (doc) {{ if ({_PLANNED}) emit([doc.assignee_id, doc.scheduled_start], null); }}"
    ),
}


def zone_of(user: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(str(user.get("time_zone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_hhmm(ts: str, zone: ZoneInfo) -> str:
    return parse_timestamp(ts).astimezone(zone).strftime("%H:%M")


class Jobs:
    def __init__(
        self,
        store: DocStore,
        *,
        ops_db: str,
        field_db: str,
        outbox: Outbox,
        dispatcher: Dispatcher,
        live: LiveHub | None = None,
        reminder_lead: timedelta = timedelta(minutes=30),
        morning_at: time = time(7, 0),
        morning_window: timedelta = timedelta(hours=1),
        stale_after: timedelta = timedelta(hours=24),
    ) -> None:
        self.store = store
        self.ops_db = ops_db
        self.field_db = field_db
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.live = live
        self.reminder_lead = reminder_lead
        self.morning_at = morning_at
        self.morning_window = morning_window
        self.stale_after = stale_after

    async def setup(self) -> None:
        """Install the views the jobs query (idempotent)."""
        await self.outbox.setup()
        await ensure_design(self.store, self.field_db, "_design/notifications", FIELD_VIEWS)

    async def _users(self) -> dict[str, dict[str, Any]]:
        docs = await docs_with_prefix(self.store, self.ops_db, "user:")
        return {
            doc["_id"].split(":", 1)[1]: doc
            for doc in docs
            if doc.get("type") == "user" and doc.get("active", True)
        }

    async def dispatch(self, now: datetime) -> DispatchReport:
        return await self.dispatcher.run_once(now=now)

    async def visit_reminders(self, now: datetime) -> int:
        """Remind each assignee of planned visits starting within ``reminder_lead``."""
        rows = await view(
            self.store,
            self.field_db,
            "notifications",
            "visits_by_start",
            startkey=format_timestamp(now),
            endkey=format_timestamp(now + self.reminder_lead),
            include_docs=True,
        )
        visits = [row["doc"] for row in rows if row.get("doc")]
        if not visits:
            return 0
        users = await self._users()
        events = []
        for visit in visits:
            start = visit["scheduled_start"]
            if start <= format_timestamp(now):  # already started: too late to remind
                continue
            user = users.get(visit["assignee_id"])
            zone = zone_of(user) if user else ZoneInfo("UTC")
            events.append(
                Event(
                    EventKind.VISIT_REMINDER,
                    visit["assignee_id"],
                    data={
                        "visit_id": visit["_id"],
                        "account": visit["account_id"],
                        "scheduled_start": start,
                        "local_time": local_hhmm(start, zone),
                    },
                    dedupe_key=f"visit_reminder:{visit['_id']}:{start}",
                )
            )
        await self.outbox.enqueue(events, now)
        return len(events)

    async def morning_plans(self, now: datetime) -> int:
        """The day's plan for field users whose local time is in the morning window."""
        events = []
        for user_id, user in (await self._users()).items():
            if user.get("role") not in FIELD_ROLES:
                continue
            zone = zone_of(user)
            local = now.astimezone(zone)
            plan_at = datetime.combine(local.date(), self.morning_at, tzinfo=zone)
            if not plan_at <= local < plan_at + self.morning_window:
                continue
            day_start = datetime.combine(local.date(), time(0), tzinfo=zone)
            next_day = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
            rows = await view(
                self.store,
                self.field_db,
                "notifications",
                "visits_by_assignee",
                startkey=[user_id, format_timestamp(day_start)],
                endkey=[user_id, format_timestamp(next_day)],
                inclusive_end=False,
            )
            if not rows:
                continue
            starts = [row["key"][1] for row in rows]
            events.append(
                Event(
                    EventKind.MORNING_PLAN,
                    user_id,
                    data={
                        "date": local.date().isoformat(),
                        "visit_count": str(len(rows)),
                        "first_local_time": local_hhmm(starts[0], zone),
                        "visit_ids": ",".join(row["id"] for row in rows)[:1000],
                    },
                    dedupe_key=f"morning_plan:{user_id}:{local.date().isoformat()}",
                )
            )
        await self.outbox.enqueue(events, now)
        return len(events)

    async def stale_devices(self, now: datetime) -> int:
        """Alert every manager once per device and silence, when a device has not synced."""
        users = await self._users()
        managers = [uid for uid, user in users.items() if user.get("role") == "manager"]
        limit = format_timestamp(now - self.stale_after)
        events: list[Event] = []
        for device in await docs_with_prefix(self.store, self.ops_db, "device:"):
            owner = device.get("user_id")
            if device.get("type") != "device" or owner not in users:
                continue
            seen = [device.get(f) for f in ("last_pull", "last_push")]
            last = max((s for s in seen if isinstance(s, str)), default=device.get("created_at"))
            if not isinstance(last, str) or last > limit:
                continue
            data = {
                "device_user_id": str(owner),
                "device_id": str(device.get("device_id", "")),
                "last_sync": last,
            }
            if self.live is not None:
                self.live.publish("device_stale", data)
            events.extend(
                Event(
                    EventKind.DEVICE_STALE,
                    manager,
                    data=data,
                    dedupe_key=f"device_stale:{device['_id']}:{last}",
                )
                for manager in managers
            )
        await self.outbox.enqueue(events, now)
        return len(events)

    async def housekeeping(self, now: datetime) -> int:
        return await self.outbox.housekeeping(now)


Job = Callable[[datetime], Awaitable[Any]]


class JobScheduler:
    """Runs :class:`Jobs` on intervals, only in the process holding the lease.

    The lease is renewed every third of its time to live; every job checks that it is still
    held when it fires, so after losing the lease (a long pause, a network split) a process
    stops running jobs at once and another takes over when the lease expires.
    """

    def __init__(
        self,
        jobs: Jobs,
        lease: Lease,
        *,
        intervals: dict[str, float] | None = None,
        now: Callable[[], datetime] = utc_now_datetime,
    ) -> None:
        self.jobs = jobs
        self.lease = lease
        self.now = now
        self.intervals = {
            "dispatch": 5.0,
            "visit_reminders": 60.0,
            "morning_plans": 300.0,
            "stale_devices": 3600.0,
            "housekeeping": 3600.0,
            **(intervals or {}),
        }
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.runs: dict[str, int] = dict.fromkeys(self.intervals, 0)

    def start(self) -> None:
        """Add the jobs and start; call inside the running event loop."""
        renew_s = max(self.lease.ttl.total_seconds() / 3, 0.05)
        self.scheduler.add_job(
            self.renew,
            IntervalTrigger(seconds=renew_s),
            id="lease",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        for name, seconds in self.intervals.items():
            self.scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=seconds),
                args=[name],
                id=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(int(seconds), 1),
            )
        self.scheduler.start()
        log.info("scheduler_started", holder=self.lease.holder, jobs=list(self.intervals))

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        # Let jobs that are running finish their current await before releasing the lease.
        await asyncio.sleep(0)
        with contextlib.suppress(Exception):
            await self.lease.release()

    async def renew(self) -> bool:
        was_held = self.lease.held
        try:
            held = await self.lease.acquire()
        except Exception as exc:
            log.warning("lease_renew_failed", error=repr(exc))
            return False
        if held != was_held:
            log.info("lease_changed", holder=self.lease.holder, held=held)
        return held

    async def _run(self, name: str) -> None:
        if not self.lease.held:
            return
        job: Job = getattr(self.jobs, name)
        try:
            await job(self.now())
            self.runs[name] += 1
        except Exception as exc:
            # A job failing (CouchDB away) must not stop the scheduler; the next tick retries.
            log.warning("job_failed", job=name, error=repr(exc))
