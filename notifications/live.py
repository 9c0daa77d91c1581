"""In-process publish / subscribe for server-sent events (back-office inbox, manager board).

:meth:`LiveHub.publish` stamps an event with an id ``"<epoch>-<seq>"`` (``epoch``: the hub's
start in ms, so ids from an earlier process are recognisable) and hands it to every matching
subscriber. :meth:`LiveHub.subscribe` is an async iterator; given the ``Last-Event-ID`` a client
reconnected with, it first replays the newer events still in the bounded replay buffer. When it
cannot (the id is from another process, or older than the buffer) it yields one ``reset`` event
first: the client should reload its view, as it may have missed events.

A subscriber that does not keep up (its queue of ``queue_size`` events is full) is ended rather
than allowed to hold memory or slow the publisher; it reconnects with its last id and replays.
One process only: with several processes, each hub sees the events published in its process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RESET = "reset"


@dataclass(frozen=True)
class LiveEvent:
    id: str
    topic: str
    data: dict[str, Any]
    # Who may see it (user ids); None: anyone the subscription's filter admits.
    user_ids: frozenset[str] | None = None
    seq: int = 0


Filter = Callable[[LiveEvent], bool]


@dataclass(eq=False)
class _Subscriber:
    accept: Filter
    queue: asyncio.Queue[LiveEvent | None] = field(default_factory=asyncio.Queue)


def format_sse(event: LiveEvent) -> str:
    """One server-sent event frame (``id``, ``event``, ``data`` lines, blank line)."""
    payload = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.topic}\ndata: {payload}\n\n"


class LiveHub:
    def __init__(self, *, replay: int = 1_000, queue_size: int = 1_000) -> None:
        self.epoch = str(int(time.time() * 1000))
        self._seq = itertools.count(1)
        self._buffer: deque[LiveEvent] = deque(maxlen=replay)
        self._subscribers: set[_Subscriber] = set()
        self._queue_size = queue_size

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(
        self, topic: str, data: dict[str, Any], *, user_ids: set[str] | None = None
    ) -> LiveEvent:
        seq = next(self._seq)
        event = LiveEvent(
            f"{self.epoch}-{seq}",
            topic,
            dict(data),
            frozenset(user_ids) if user_ids is not None else None,
            seq,
        )
        self._buffer.append(event)
        for sub in list(self._subscribers):
            if not sub.accept(event):
                continue
            if sub.queue.qsize() >= self._queue_size:
                # Too slow: end it (the None sentinel) after dropping one queued event for room.
                self._subscribers.discard(sub)
                sub.queue.get_nowait()
                sub.queue.put_nowait(None)
                continue
            sub.queue.put_nowait(event)
        return event

    def _resume_point(self, last_event_id: str | None) -> int | None:
        """The sequence to replay after, or None when the id cannot be resumed from."""
        epoch, _, seq = (last_event_id or "").partition("-")
        if epoch != self.epoch or not seq.isdigit():
            return None
        after = int(seq)
        oldest = self._buffer[0].seq if self._buffer else after + 1
        return after if after + 1 >= oldest else None

    def subscribe(
        self, accept: Filter | None = None, last_event_id: str | None = None
    ) -> Subscription:
        """Events matching ``accept``: replayed after ``last_event_id``, then live.

        Registered at once (not at the first ``anext``), so nothing published after this call
        is missed; close it with ``aclose()`` (or let the consumer's ``async for`` end).
        """
        return Subscription(self, accept or (lambda _event: True), last_event_id)


class Subscription:
    """An async iterator of one subscriber's events; ends when closed or cut off."""

    def __init__(self, hub: LiveHub, accept: Filter, last_event_id: str | None) -> None:
        self._hub = hub
        self._sub = _Subscriber(accept)
        self._pending: deque[LiveEvent] = deque()
        self._last = 0
        self._closed = False
        hub._subscribers.add(self._sub)
        if last_event_id:
            after = hub._resume_point(last_event_id)
            if after is None:
                self._pending.append(
                    LiveEvent(f"{hub.epoch}-0", RESET, {"reason": "missed events"})
                )
            else:
                self._pending.extend(e for e in hub._buffer if e.seq > after and accept(e))

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> LiveEvent:
        if self._pending:
            event = self._pending.popleft()
            self._last = max(self._last, event.seq)
            return event
        while not self._closed:
            item = await self._sub.queue.get()
            if item is None:
                break
            if item.seq <= self._last:
                continue
            self._last = item.seq
            return item
        self._close()
        raise StopAsyncIteration

    def _close(self) -> None:
        self._closed = True
        self._hub._subscribers.discard(self._sub)

    async def aclose(self) -> None:
        if not self._closed:
            self._close()
            self._sub.queue.put_nowait(None)  # wake a consumer waiting in __anext__
