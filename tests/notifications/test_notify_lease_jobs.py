"""The scheduler lease and the scheduled jobs, on a real CouchDB-protocol server with a clock
moved by hand; the scheduler itself runs on APScheduler with short intervals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from notify_world import Clock, World
from polling import wait_until

from mobile_schema import format_timestamp
from notifications.jobs import Jobs, JobScheduler
from notifications.lease import Lease
from notifications.live import LiveHub
from notifications.sender import LogSender

# -- lease ----------------------------------------------------------------------------------


async def test_two_holders_compete_one_wins_other_takes_over_after_expiry(
    couch: Any, dbs: Any, clock: Clock
) -> None:
    await couch.create_db(dbs.ops)
    a = Lease(couch, dbs.ops, "proc-a", ttl=timedelta(seconds=60), now=clock)
    b = Lease(couch, dbs.ops, "proc-b", ttl=timedelta(seconds=60), now=clock)
    results = await asyncio.gather(a.acquire(), b.acquire())
    assert sorted(results) == [False, True]
    winner, loser = (a, b) if results[0] else (b, a)
    assert winner.held and not loser.held
    # The winner renews; the loser keeps failing while the lease is alive.
    clock.advance(seconds=30)
    assert await winner.acquire() and not await loser.acquire()
    # The winner stops renewing: after expiry the other takes over, and the old holder is out.
    clock.advance(seconds=61)
    assert not winner.held
    assert await loser.acquire() and loser.held
    assert not await winner.acquire()
    doc = await couch.get(dbs.ops, "lease:scheduler")
    assert doc["holder"] == loser.holder
    assert doc["expires_at"] == format_timestamp(clock() + timedelta(seconds=60))


async def test_release_lets_another_take_over_at_once(couch: Any, dbs: Any, clock: Clock) -> None:
    await couch.create_db(dbs.ops)
    a = Lease(couch, dbs.ops, "proc-a", now=clock)
    b = Lease(couch, dbs.ops, "proc-b", now=clock)
    assert await a.acquire() and not await b.acquire()
    await a.release()
    assert not a.held and await b.acquire()


async def test_renewal_racing_a_takeover_has_one_winner(couch: Any, dbs: Any, clock: Clock) -> None:
    await couch.create_db(dbs.ops)
    holders = [Lease(couch, dbs.ops, f"proc-{n}", now=clock) for n in range(5)]
    assert await holders[0].acquire()
    clock.advance(minutes=5)
    results = await asyncio.gather(*(h.acquire() for h in holders))
    assert sum(results) == 1


# -- jobs -----------------------------------------------------------------------------------


def ts(value: datetime) -> str:
    return format_timestamp(value)


async def add_user(world: World, user_id: str, role: str, tz: str) -> None:
    await world.couch.put(
        world.dbs.ops,
        {"_id": f"user:{user_id}", "type": "user", "id": user_id, "role": role, "time_zone": tz},
    )
    if role in ("rep", "engineer"):
        await world.couch.create_db(world.dbs.rep(user_id))


async def add_visit(
    world: World, visit_id: str, assignee: str, start: datetime, **extra: Any
) -> None:
    doc = {
        "_id": f"visit:{visit_id}",
        "type": "visit",
        "schema_version": 1,
        "assignee_id": assignee,
        "account_id": "account:a-1",
        "kind": "sales",
        "status": "planned",
        "scheduled_start": ts(start),
        "scheduled_end": ts(start + timedelta(hours=1)),
        "updated_at": ts(start),
        "updated_by": "manager1",
        **extra,
    }
    await world.couch.put(world.dbs.field, doc)


@pytest.fixture
async def jobs(world: World) -> Jobs:
    await world.couch.create_db(world.dbs.field)
    j = Jobs(
        world.couch,
        ops_db=world.dbs.ops,
        field_db=world.dbs.field,
        outbox=world.outbox,
        dispatcher=world.dispatcher(LogSender()),
        live=LiveHub(),
    )
    await j.setup()
    return j


async def entries(world: World) -> list[dict[str, Any]]:
    rows = await world.couch.all_docs(
        world.dbs.ops, startkey="outbox:", endkey="outbox:\ufff0", include_docs=True
    )
    return [row["doc"] for row in rows["rows"]]


async def test_visit_reminder_due_and_not_due(world: World, jobs: Jobs) -> None:
    now = world.clock()
    await add_user(world, "ana", "rep", "Europe/Berlin")
    await add_visit(world, "soon", "ana", now + timedelta(minutes=20))
    await add_visit(world, "later", "ana", now + timedelta(hours=3))
    await add_visit(world, "past", "ana", now - timedelta(minutes=5))
    await add_visit(world, "done", "ana", now + timedelta(minutes=10), status="done")
    assert await jobs.visit_reminders(now) == 1
    [entry] = await entries(world)
    assert entry["kind"] == "visit_reminder" and entry["user_id"] == "ana"
    assert entry["message"]["data"]["visit_id"] == "visit:soon"
    # 08:20 UTC is 10:20 in Berlin (summer time).
    assert entry["message"]["body"] == "Visit account:a-1 at 10:20"
    # The next tick reminds of nothing new; later the 11:00 visit comes due.
    await jobs.visit_reminders(world.clock.advance(minutes=1))
    assert len(await entries(world)) == 1
    await jobs.visit_reminders(world.clock.advance(hours=2, minutes=40))
    assert sorted(e["message"]["data"]["visit_id"] for e in await entries(world)) == [
        "visit:later",
        "visit:soon",
    ]
    notes = await world.couch.all_docs(world.dbs.rep("ana"), include_docs=True)
    assert {row["doc"]["kind"] for row in notes["rows"]} == {"visit_reminder"}


@pytest.mark.parametrize(
    ("utc_time", "berlin_due", "new_york_due"),
    [
        (datetime(2024, 5, 1, 4, 59, tzinfo=UTC), False, False),  # 06:59 Berlin
        (datetime(2024, 5, 1, 5, 0, tzinfo=UTC), True, False),  # 07:00 Berlin, 01:00 NY
        (datetime(2024, 5, 1, 5, 59, tzinfo=UTC), True, False),
        (datetime(2024, 5, 1, 6, 0, tzinfo=UTC), False, False),  # 08:00 Berlin: window over
        (datetime(2024, 5, 1, 11, 0, tzinfo=UTC), False, True),  # 07:00 New York (EDT)
        (datetime(2024, 1, 15, 12, 0, tzinfo=UTC), False, True),  # 07:00 New York (EST)
        (datetime(2024, 1, 15, 6, 0, tzinfo=UTC), True, False),  # 07:00 Berlin (CET)
    ],
)
async def test_morning_plan_at_seven_in_each_users_time_zone(
    world: World, jobs: Jobs, utc_time: datetime, berlin_due: bool, new_york_due: bool
) -> None:
    await add_user(world, "berta", "rep", "Europe/Berlin")
    await add_user(world, "nick", "engineer", "America/New_York")
    await add_user(world, "mona", "manager", "Europe/Berlin")
    day = utc_time.replace(hour=0, minute=0)
    for user in ("berta", "nick"):
        # 14:00 UTC is the same local day in both zones; the next day's visit must not count.
        await add_visit(world, f"{user}-1", user, day + timedelta(hours=14))
        await add_visit(world, f"{user}-2", user, day + timedelta(hours=15, minutes=30))
        await add_visit(world, f"{user}-3", user, day + timedelta(days=1, hours=14))
    sent = await jobs.morning_plans(utc_time)
    got = {e["user_id"]: e for e in await entries(world)}
    assert sent == berlin_due + new_york_due
    assert ("berta" in got) == berlin_due and ("nick" in got) == new_york_due
    for user, entry in got.items():
        assert entry["kind"] == "morning_plan"
        assert entry["message"]["data"]["visit_count"] == "2"
        expected_first = {"berta": "16:00", "nick": "10:00"}[user]
        if utc_time.month == 1:
            expected_first = {"berta": "15:00", "nick": "09:00"}[user]
        assert entry["message"]["data"]["first_local_time"] == expected_first
    # Idempotent: the next tick, still in the window, adds nothing.
    if sent:
        await jobs.morning_plans(utc_time + timedelta(minutes=5))
        assert len(await entries(world)) == sent


async def test_stale_device_alerts_each_manager_once(world: World, jobs: Jobs) -> None:
    now = world.clock()
    await add_user(world, "ana", "rep", "UTC")
    await add_user(world, "mona", "manager", "UTC")
    await add_user(world, "max", "manager", "UTC")
    fresh = await world.add_device("ana", "phone", "tok-1")
    world.clock.value = now - timedelta(hours=30)
    stale = await world.add_device("ana", "old-tablet", "tok-2")
    world.clock.value = now
    assert fresh != stale
    live = jobs.live
    assert live is not None
    subscription = live.subscribe()
    assert await jobs.stale_devices(now) == 2
    assert await jobs.stale_devices(now + timedelta(hours=1)) == 2  # same events, deduplicated
    got = await entries(world)
    assert sorted(e["user_id"] for e in got) == ["max", "mona"]
    assert {e["message"]["data"]["device_id"] for e in got} == {"old-tablet"}
    assert all(e["notification_id"] is None for e in got)  # managers have no device database
    event = await asyncio.wait_for(anext(subscription), 5)
    assert event.topic == "device_stale" and event.data["device_id"] == "old-tablet"
    await subscription.aclose()


async def test_housekeeping_job_and_dispatch_job(world: World, jobs: Jobs) -> None:
    await add_user(world, "ana", "rep", "UTC")
    await world.add_device("ana", "phone", "tok-1")
    await add_visit(world, "soon", "ana", world.clock() + timedelta(minutes=10))
    await jobs.visit_reminders(world.clock())
    report = await jobs.dispatch(world.clock())
    assert report.states["sent"] == 1
    assert await jobs.housekeeping(world.clock.advance(days=8)) == 1
    assert await entries(world) == []


async def test_scheduler_runs_jobs_only_in_the_lease_holder(world: World, jobs: Jobs) -> None:
    await add_user(world, "ana", "rep", "UTC")
    await world.add_device("ana", "phone", "tok-1")
    real_now = datetime.now(UTC)
    await add_visit(world, "soon", "ana", real_now + timedelta(minutes=10))
    fast = {"dispatch": 0.1, "visit_reminders": 0.1}
    one = JobScheduler(
        jobs, Lease(world.couch, world.dbs.ops, "proc-1", ttl=timedelta(seconds=3)), intervals=fast
    )
    two = JobScheduler(
        jobs, Lease(world.couch, world.dbs.ops, "proc-2", ttl=timedelta(seconds=3)), intervals=fast
    )
    one.start()
    await wait_until(lambda: one.lease.held, message="the first scheduler holds the lease")
    two.start()
    try:

        async def reminder_sent() -> bool:
            got = await entries(world)
            return bool(got) and got[0]["state"] == "sent"

        await wait_until(reminder_sent, message="the reminder was pushed")
        assert one.runs["dispatch"] > 0
        assert two.runs["dispatch"] == 0 and not two.lease.held
        await one.stop()
        await wait_until(lambda: two.lease.held, message="the second takes over")
        await wait_until(lambda: two.runs["dispatch"] > 0, message="the second runs jobs")
    finally:
        await two.stop()
        if one.scheduler.running:
            await one.stop()
