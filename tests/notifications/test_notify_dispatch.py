"""Outbox and dispatcher against a real CouchDB-protocol server and firebase-admin's real
send path talking to the local fake FCM."""

from __future__ import annotations

import asyncio
from typing import Any

from fake_fcm import FakeFcm
from notify_world import World
from polling import wait_until

from mobile_schema import Notification
from notifications.dispatcher import ABANDONED
from notifications.events import Event, EventKind, sync_now
from notifications.sender import PushMessage, SendResult


def confirmed(user: str, order: str) -> Event:
    return Event(
        EventKind.ORDER_CONFIRMED,
        user,
        data={"order_id": order},
        dedupe_key=f"order_confirmed:{order}",
    )


async def test_enqueue_writes_entry_and_notification_once(world: World) -> None:
    await world.couch.create_db(world.dbs.rep("alice"))
    first = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    again = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    assert first == again
    entry = await world.outbox.get(first[0])
    assert entry["state"] == "pending" and entry["attempts"] == 0
    assert entry["message"]["data"] == {"order_id": "order:o-1", "kind": "order_confirmed"}
    rows = (await world.couch.all_docs(world.dbs.ops, startkey="outbox:", endkey="outbox:\ufff0"))[
        "rows"
    ]
    assert len(rows) == 1
    doc = await world.couch.get(world.dbs.rep("alice"), entry["notification_id"])
    note = Notification.model_validate(doc)
    assert note.user_id == "alice" and note.kind == "order_confirmed" and not note.read
    assert note.title == "Order confirmed"


async def test_no_document_for_users_without_a_database_or_for_sync_now(world: World) -> None:
    await world.couch.create_db(world.dbs.rep("alice"))
    ids = await world.outbox.enqueue(
        [confirmed("manager1", "order:o-2"), sync_now("alice", world.clock())], world.clock()
    )
    entries = [await world.outbox.get(i) for i in ids]
    assert [e["notification_id"] for e in entries] == [None, None]
    assert entries[1]["message"]["data_only"] is True
    listing = await world.couch.all_docs(world.dbs.rep("alice"))
    assert listing["rows"] == []


async def test_sync_now_is_debounced_per_user_and_window(world: World) -> None:
    now = world.clock()
    ids = await world.outbox.enqueue([sync_now("alice", now), sync_now("bob", now)], now)
    again = await world.outbox.enqueue([sync_now("alice", world.clock.advance(seconds=5))], now)
    later = await world.outbox.enqueue([sync_now("alice", world.clock.advance(seconds=60))], now)
    assert len(set(ids)) == 2 and again[0] in ids and later[0] not in ids


async def test_dispatch_sends_each_token_through_fcm_and_marks_sent(
    world: World, fcm: FakeFcm
) -> None:
    await world.add_device("alice", "phone", "tok-a1")
    await world.add_device("alice", "tablet", "tok-a2")
    await world.add_device("bob", "phone", "tok-b1")
    ids = await world.outbox.enqueue(
        [confirmed("alice", "order:o-1"), confirmed("bob", "order:o-2")], world.clock()
    )
    report = await world.dispatcher().run_once()
    assert report.claimed == 2 and report.messages == 3
    assert sorted(fcm.tokens_sent()) == ["tok-a1", "tok-a2", "tok-b1"]
    assert set(fcm.paths) == {f"/v1/projects/{fcm.project}/messages:send"}
    message = fcm.requests_for("tok-a1")[0]["message"]
    assert message["notification"] == {
        "title": "Order confirmed",
        "body": "Order order:o-1 was confirmed",
    }
    assert message["data"] == {"order_id": "order:o-1", "kind": "order_confirmed"}
    for entry_id in ids:
        entry = await world.outbox.get(entry_id)
        assert entry["state"] == "sent" and entry["attempts"] == 1
    # Nothing is due any more: a second round sends nothing.
    assert (await world.dispatcher().run_once()).messages == 0
    assert len(fcm.sent) == 3


async def test_sync_now_is_data_only_and_collapsible(world: World, fcm: FakeFcm) -> None:
    await world.add_device("alice", "phone", "tok-a1")
    await world.outbox.enqueue([sync_now("alice", world.clock())], world.clock())
    await world.dispatcher().run_once()
    message = fcm.requests_for("tok-a1")[0]["message"]
    assert "notification" not in message
    assert message["data"] == {"action": "sync", "kind": "sync_now"}
    assert message["android"]["collapse_key"] == "sync_now"
    assert message["apns"]["headers"]["apns-collapse-id"] == "sync_now"
    assert message["apns"]["payload"]["aps"]["content-available"] == 1


async def test_batches_respect_the_batch_size(world: World, fcm: FakeFcm) -> None:
    for n in range(7):
        await world.add_device(f"u{n}", "phone", f"tok-{n}")
    await world.outbox.enqueue(
        [confirmed(f"u{n}", f"order:o-{n}") for n in range(7)], world.clock()
    )
    sizes: list[int] = []

    class Counting:
        name = "fcm"

        async def send(self, messages: list[PushMessage]) -> list[SendResult]:
            sizes.append(len(messages))
            return await world.sender.send(messages)

    report = await world.dispatcher(Counting(), batch_size=3).run_once()
    assert sizes == [3, 3, 1] and report.states["sent"] == 7
    assert len(fcm.tokens_sent()) == 7


async def test_unregistered_and_invalid_tokens_are_removed(world: World, fcm: FakeFcm) -> None:
    good = await world.add_device("alice", "phone", "tok-good")
    gone = await world.add_device("alice", "old-phone", "tok-gone")
    bad = await world.add_device("alice", "tablet", "tok-bad")
    fcm.answer("tok-gone", "UNREGISTERED")
    fcm.answer("tok-bad", "INVALID_ARGUMENT")
    [entry_id] = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    report = await world.dispatcher().run_once()
    assert report.tokens_removed == 2
    assert (await world.couch.get(world.dbs.ops, good))["fcm_token"] == "tok-good"
    for doc_id in (gone, bad):
        device = await world.couch.get(world.dbs.ops, doc_id)
        assert device["fcm_token"] is None and device["fcm_token_removed_reason"]
    assert (await world.outbox.get(entry_id))["state"] == "sent"
    # The next notification goes only to the live token.
    await world.outbox.enqueue([confirmed("alice", "order:o-2")], world.clock())
    await world.dispatcher().run_once()
    assert fcm.tokens_sent() == ["tok-good", "tok-good"]


async def test_transient_failures_back_off_then_succeed_only_where_needed(
    world: World, fcm: FakeFcm
) -> None:
    await world.add_device("alice", "phone", "tok-ok")
    await world.add_device("alice", "tablet", "tok-busy")
    fcm.answer("tok-busy", "QUOTA_EXCEEDED")
    [entry_id] = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    start = world.clock()
    await world.dispatcher().run_once()
    entry = await world.outbox.get(entry_id)
    assert entry["state"] == "failed" and entry["attempts"] == 1
    assert entry["done_tokens"] == ["tok-ok"] and "QUOTA_EXCEEDED" in entry["last_error"]
    # Equal jitter: between half and all of the 10 s base.
    from mobile_schema import parse_timestamp

    wait = (parse_timestamp(entry["next_attempt_at"]) - start).total_seconds()
    assert 5 <= wait < 10
    # Not due yet: nothing happens.
    world.clock.advance(seconds=4)
    assert (await world.dispatcher().run_once()).claimed == 0
    world.clock.advance(seconds=10)
    report = await world.dispatcher().run_once()
    assert report.messages == 1  # only the device that did not get it
    entry = await world.outbox.get(entry_id)
    assert entry["state"] == "sent" and entry["attempts"] == 2 and entry["delivered"] == 2
    assert sorted(fcm.tokens_sent()) == ["tok-busy", "tok-ok"]


async def test_dead_letter_after_the_attempt_limit(world: World, fcm: FakeFcm) -> None:
    await world.add_device("alice", "phone", "tok-busy")
    fcm.always["tok-busy"] = "QUOTA_EXCEEDED"
    [entry_id] = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    waits: list[float] = []
    for _ in range(world.policy.max_attempts):
        before = world.clock()
        await world.dispatcher().run_once()
        entry = await world.outbox.get(entry_id)
        if entry["state"] == "failed":
            from mobile_schema import parse_timestamp

            waits.append((parse_timestamp(entry["next_attempt_at"]) - before).total_seconds())
        world.clock.advance(hours=1)
    entry = await world.outbox.get(entry_id)
    assert entry["state"] == "dead" and entry["attempts"] == world.policy.max_attempts
    assert len(fcm.requests_for("tok-busy")) == world.policy.max_attempts
    assert len(waits) == 2 and waits[1] > waits[0]  # 10 s then 20 s base, jitter at most half
    world.clock.advance(days=1)
    assert (await world.dispatcher().run_once()).claimed == 0


async def test_permanent_error_is_dead_without_retry(world: World, fcm: FakeFcm) -> None:
    await world.add_device("alice", "iphone", "tok-apns")
    fcm.answer("tok-apns", "PERMISSION_DENIED")
    [entry_id] = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    await world.dispatcher().run_once()
    entry = await world.outbox.get(entry_id)
    assert entry["state"] == "dead" and entry["attempts"] == 1
    assert "PERMISSION_DENIED" in entry["last_error"]
    device = await world.couch.get(world.dbs.ops, "device:alice:iphone")
    assert device["fcm_token"] == "tok-apns"  # the project's fault, not the token's


class HangAfterSend:
    """The process 'dies' right after FCM accepted the batch, before the outcome is written."""

    name = "fcm"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sent = asyncio.Event()

    async def send(self, messages: list[PushMessage]) -> list[SendResult]:
        results: list[SendResult] = await self.inner.send(messages)
        self.sent.set()
        await asyncio.Event().wait()
        return results


async def test_no_duplicate_after_a_crash_between_send_and_mark(world: World, fcm: FakeFcm) -> None:
    await world.add_device("alice", "phone", "tok-a1")
    [entry_id] = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    crashing = HangAfterSend(world.sender)
    task = asyncio.create_task(world.dispatcher(crashing).run_once())
    await wait_until(crashing.sent.is_set, message="the batch reached FCM")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert fcm.tokens_sent() == ["tok-a1"]
    assert (await world.outbox.get(entry_id))["state"] == "sending"
    # A restarted dispatcher before the claim expires leaves it alone; after, it gives it up.
    assert (await world.dispatcher().run_once()).claimed == 0
    world.clock.advance(minutes=6)
    report = await world.dispatcher().run_once()
    assert report.abandoned == 1 and report.messages == 0
    entry = await world.outbox.get(entry_id)
    assert entry["state"] == "dead" and entry["last_error"] == ABANDONED
    world.clock.advance(days=1)
    await world.dispatcher().run_once()
    assert fcm.tokens_sent() == ["tok-a1"]


async def test_sync_now_is_resent_after_a_crash(world: World, fcm: FakeFcm) -> None:
    await world.add_device("alice", "phone", "tok-a1")
    [entry_id] = await world.outbox.enqueue([sync_now("alice", world.clock())], world.clock())
    crashing = HangAfterSend(world.sender)
    task = asyncio.create_task(world.dispatcher(crashing).run_once())
    await wait_until(crashing.sent.is_set, message="the batch reached FCM")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    world.clock.advance(minutes=6)
    await world.dispatcher().run_once()
    assert fcm.tokens_sent() == ["tok-a1", "tok-a1"]
    assert (await world.outbox.get(entry_id))["state"] == "sent"


async def test_two_dispatchers_never_send_one_entry_twice(world: World, fcm: FakeFcm) -> None:
    for n in range(20):
        await world.add_device(f"u{n}", "phone", f"tok-{n}")
    await world.outbox.enqueue(
        [confirmed(f"u{n}", f"order:o-{n}") for n in range(20)], world.clock()
    )
    reports = await asyncio.gather(*(world.dispatcher().run_once() for _ in range(3)))
    assert sum(r.claimed for r in reports) == 20
    assert sorted(fcm.tokens_sent()) == sorted(f"tok-{n}" for n in range(20))


async def test_housekeeping_removes_old_finished_entries(world: World, fcm: FakeFcm) -> None:
    await world.add_device("alice", "phone", "tok-a1")
    [old] = await world.outbox.enqueue([confirmed("alice", "order:o-1")], world.clock())
    await world.dispatcher().run_once()
    world.clock.advance(days=8)
    [recent] = await world.outbox.enqueue([confirmed("alice", "order:o-2")], world.clock())
    await world.dispatcher().run_once()
    assert await world.outbox.housekeeping(world.clock()) == 1
    remaining = await world.couch.all_docs(
        world.dbs.ops, startkey="outbox:", endkey="outbox:\ufff0"
    )
    assert [row["id"] for row in remaining["rows"]] == [recent]
    assert old != recent
