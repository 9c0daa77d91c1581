"""Pure parts: rendering events, classifying FCM errors, back-off, building messages, the
live hub."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from firebase_admin import exceptions, messaging
from hypothesis import given
from hypothesis import strategies as st

from mobile_schema import Notification
from notifications.dispatcher import RetryPolicy
from notifications.events import Event, EventKind, render, sync_now
from notifications.live import RESET, LiveEvent, LiveHub, Subscription, format_sse
from notifications.outbox import build_notification, entry_local_id
from notifications.sender import Outcome, PushMessage, build_message, classify

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "title", "body"),
    [
        (
            Event(EventKind.ORDER_REJECTED, "ana", data={"order_id": "order:o-1", "reason": "x"}),
            "Order rejected",
            "Order order:o-1 was rejected: x",
        ),
        (Event(EventKind.TERRITORY_LOST, "ana"), "Territory removed", "You no longer cover ?"),
        (
            Event(EventKind.ORDER_SHIPPED, "ana", title="  Custom\n title ", body="b"),
            "Custom title",
            "b",
        ),
        (Event(EventKind.SYNC_NOW, "ana"), "Sync", ""),
    ],
)
def test_render_table(event: Event, title: str, body: str) -> None:
    got_title, got_body, data = render(event)
    assert (got_title, got_body) == (title, body)
    assert data["kind"] == event.kind.value


@given(
    kind=st.sampled_from(list(EventKind)),
    title=st.text(max_size=400),
    body=st.text(max_size=3000),
    data=st.dictionaries(st.text(max_size=80), st.text(max_size=1200), max_size=80),
)
def test_rendered_events_always_make_valid_notification_documents(
    kind: EventKind, title: str, body: str, data: dict[str, str]
) -> None:
    event = Event(kind, "ana", title=title, body=body, data=data, dedupe_key="k")
    doc = build_notification(event, NOW, entry_local_id(event))
    Notification.model_validate(doc)
    assert render(event) == render(event)


@given(st.text(min_size=1, max_size=100))
def test_dedupe_key_gives_a_stable_valid_id_per_recipient(key: str) -> None:
    event = Event(EventKind.ORDER_CONFIRMED, "ana", dedupe_key=key)
    same = Event(EventKind.ORDER_SHIPPED, "ana", title="other", dedupe_key=key)
    other_user = Event(EventKind.ORDER_CONFIRMED, "bob", dedupe_key=key)
    assert entry_local_id(event) == entry_local_id(same) != entry_local_id(other_user)
    assert len(entry_local_id(event)) == 32


def test_sync_now_windows() -> None:
    a = sync_now("ana", NOW)
    assert a.data_only and a.collapse_key == "sync_now"
    assert sync_now("ana", NOW + timedelta(seconds=29)).dedupe_key == a.dedupe_key
    assert sync_now("ana", NOW + timedelta(seconds=30)).dedupe_key != a.dedupe_key
    assert sync_now("bob", NOW).dedupe_key != a.dedupe_key


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, Outcome.SENT),
        (messaging.UnregisteredError("gone"), Outcome.TOKEN_GONE),
        (exceptions.InvalidArgumentError("bad token"), Outcome.TOKEN_GONE),
        (messaging.SenderIdMismatchError("other sender"), Outcome.TOKEN_GONE),
        (messaging.QuotaExceededError("slow down"), Outcome.RETRY),
        (exceptions.UnavailableError("down"), Outcome.RETRY),
        (exceptions.InternalError("oops"), Outcome.RETRY),
        (exceptions.DeadlineExceededError("slow"), Outcome.RETRY),
        (exceptions.UnknownError("?"), Outcome.RETRY),
        (messaging.ThirdPartyAuthError("apns cert"), Outcome.FAILED),
        (exceptions.PermissionDeniedError("no"), Outcome.FAILED),
    ],
)
def test_classify_fcm_errors(error: exceptions.FirebaseError | None, outcome: Outcome) -> None:
    assert classify(error) is outcome


@given(attempt=st.integers(min_value=1, max_value=40), seed=st.integers())
def test_backoff_grows_within_bounds(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=10))
    delay = policy.delay(attempt, random.Random(seed))
    full = min(policy.cap, policy.base * 2 ** (attempt - 1))
    assert full / 2 <= delay < full or delay == full / 2
    assert policy.delay(attempt, random.Random(seed)) == delay


def test_visible_message_shape() -> None:
    built = messaging._MessagingService.encode_message(  # what goes on the wire
        build_message(PushMessage("tok", "T", "B", {"k": "v"}, collapse_key="c"))
    )
    assert built["notification"] == {"title": "T", "body": "B"}
    assert built["android"] == {"collapse_key": "c", "priority": "high"}
    assert built["apns"]["headers"]["apns-push-type"] == "alert"


# -- live hub --------------------------------------------------------------------------------


async def collect(iterator: Subscription, n: int) -> list[LiveEvent]:
    return [await asyncio.wait_for(anext(iterator), 2) for _ in range(n)]


async def test_live_filter_and_resume_with_last_event_id() -> None:
    hub = LiveHub(replay=10)
    orders = hub.subscribe(lambda e: e.topic == "order")
    first = hub.publish("order", {"id": 1})
    hub.publish("device_stale", {"id": 2})
    third = hub.publish("order", {"id": 3})
    assert [e.id for e in await collect(orders, 2)] == [first.id, third.id]
    await orders.aclose()
    assert hub.subscribers == 0
    resumed = hub.subscribe(lambda e: e.topic == "order", last_event_id=first.id)
    got = await collect(resumed, 1)
    hub.publish("order", {"id": 4})
    got += await collect(resumed, 1)
    assert [e.data["id"] for e in got] == [3, 4]
    await resumed.aclose()
    assert format_sse(third) == f'id: {third.id}\nevent: order\ndata: {{"id":3}}\n\n'


async def test_live_reset_when_events_were_missed() -> None:
    hub = LiveHub(replay=2)
    old = hub.publish("order", {"id": 1})
    for n in range(2, 6):
        hub.publish("order", {"id": n})
    for last in (old.id, "12345-1", "garbage"):
        sub = hub.subscribe(last_event_id=last)
        [event] = await collect(sub, 1)
        assert event.topic == RESET
        await sub.aclose()
    sub = hub.subscribe(last_event_id=f"{hub.epoch}-3")
    assert [e.data["id"] for e in await collect(sub, 2)] == [4, 5]
    await sub.aclose()


async def test_live_slow_subscriber_is_ended_not_buffered_forever() -> None:
    hub = LiveHub(queue_size=3)
    slow = hub.subscribe()
    fast = hub.subscribe()
    for n in range(10):
        hub.publish("t", {"n": n})
        assert (await asyncio.wait_for(anext(fast), 2)).data == {"n": n}
    drained = [e.data["n"] async for e in slow]
    assert drained == [1, 2]  # cut off at the 4th event; it reconnects with its last id
    assert hub.subscribers == 1
    await fast.aclose()
    assert hub.subscribers == 0
