"""GET /api/v1/events: server-sent events read by a real HTTP client (httpx streaming) from a
running service: order events for the back office from fs_orders writes, role filtering,
resume with Last-Event-ID without loss, a reset for an id it cannot resume from, heartbeats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from polling import wait_until
from support.world import FieldUser, World, add_user, login

from mobile_schema import sample, utc_now

TIMEOUT = 30.0


@dataclass
class Frame:
    id: str | None = None
    event: str = "message"
    data: Any = None
    comments: list[str] = field(default_factory=list)


class EventStream:
    """Frames of one open ``text/event-stream`` response, parsed as a browser would."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self, wait_s: float = TIMEOUT) -> Frame:
        return await asyncio.wait_for(self._frame(), wait_s)

    async def _frame(self) -> Frame:
        frame = Frame()
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data or frame.id is not None or frame.comments:
                    frame.data = json.loads("\n".join(data)) if data else None
                    return frame
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                frame.comments.append(value)
            elif name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                data.append(value)
        raise AssertionError("the stream ended")

    async def event(self, wait_s: float = TIMEOUT) -> Frame:
        """The next frame carrying an event (comments and the retry hint skipped)."""
        while True:
            frame = await self.frame(wait_s)
            if frame.data is not None or frame.id is not None:
                return frame


@pytest.fixture
async def office(service_factory: Any) -> World:
    service = await service_factory(sse_heartbeat_s=0.3)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in (("alice", "rep"), ("max", "manager"), ("olga", "backoffice")):
        await add_user(world, user_id, role)
    world.users["admin"] = FieldUser("admin", "admin", "admin-pass", world.admin_token, None)
    return world


@asynccontextmanager
async def events(
    world: World, user: str, last_event_id: str | None = None
) -> AsyncIterator[EventStream]:
    headers = dict(world.users[user].headers)
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    async with httpx.AsyncClient(base_url=world.url, timeout=TIMEOUT) as http:
        async with http.stream("GET", "/api/v1/events", headers=headers) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            stream = EventStream(resp)
            # the first frame (retry hint + comment) means the subscription is in place
            assert (await stream.frame()).comments == ["connected"]
            yield stream


async def write_order(world: World, n: int) -> str:
    doc = sample(
        "order",
        **{"_id": f"order:sse-{n}"},
        rep_id="alice",
        account_id="account:a1",
        status="submitted",
        submitted_at=utc_now(),
        updated_by="alice",
    )
    await world.couch.put(world.dbs.orders, doc)
    return str(doc["_id"])


async def test_back_office_gets_order_events_and_resumes_without_loss(office: World) -> None:
    async with events(office, "olga") as stream:
        first = [await write_order(office, n) for n in (1, 2)]
        got = [await stream.event() for _ in first]
    assert [f.event for f in got] == ["order", "order"]
    assert [f.data["order_id"] for f in got] == first
    assert got[0].data["status"] == "submitted" and got[0].data["rep_id"] == "alice"

    # written while the client is away: replayed after its last id, in order, nothing twice
    missed = [await write_order(office, n) for n in (3, 4, 5)]
    live = office.service.services.workers.notifier.live
    await wait_until(lambda: sum(e.topic == "order" for e in live._buffer) == 5, timeout=TIMEOUT)
    async with events(office, "olga", last_event_id=got[-1].id) as stream:
        resumed = [await stream.event() for _ in missed]
        assert [f.data["order_id"] for f in resumed] == missed
        later = await write_order(office, 6)
        assert (await stream.event()).data["order_id"] == later
    ids = [f.id for f in got + resumed]
    assert len(set(ids)) == len(ids)


async def test_an_id_it_cannot_resume_from_starts_with_a_reset(office: World) -> None:
    async with events(office, "olga", last_event_id="123-4") as stream:
        assert (await stream.event()).event == "reset"
        order = await write_order(office, 1)
        assert (await stream.event()).data["order_id"] == order


async def test_events_are_filtered_by_role(office: World) -> None:
    live = office.service.services.workers.notifier.live
    async with events(office, "max") as manager, events(office, "admin") as admin:
        order = await write_order(office, 1)
        await wait_until(lambda: any(e.topic == "order" for e in live._buffer), timeout=TIMEOUT)
        live.publish("assignment", {"user_id": "alice", "change": "gained", "doc_ids": ["v"]})
        assert (await manager.event()).event == "assignment"  # the order was not for managers
        seen = [await admin.event() for _ in range(2)]
        assert [(f.event, f.data.get("order_id")) for f in seen] == [
            ("order", order),
            ("assignment", None),
        ]
    async with office.http("alice") as http:
        assert (await http.get("/api/v1/events")).status_code == 403


async def test_idle_streams_get_heartbeat_comments(office: World) -> None:
    async with events(office, "olga") as stream:
        frame = await stream.frame(wait_s=10)
        assert frame.comments == ["heartbeat"] and frame.data is None
