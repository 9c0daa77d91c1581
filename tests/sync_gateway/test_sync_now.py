"""A sleeping phone gets a data-only "sync now" push when its database changes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from polling import wait_until
from support.world import World

from field_api.notify import BETWEEN_POLLS_S
from mobile_schema import sample
from notifications.events import SYNC_NOW_WINDOW_S


async def sync_now_entries(world: World, user: str) -> list[dict[str, Any]]:
    async with world.http("max") as http:
        resp = await http.get("/api/v1/notifications", params={"user_id": user})
    return [e for e in resp.json()["items"] if e["kind"] == "sync_now"]


async def test_a_catalog_change_wakes_a_phone_with_no_live_feed(world: World) -> None:
    await world.couch.put(
        world.dbs.master, sample("product", **{"_id": "product:NEW-1"}, sku="NEW-1")
    )

    async def arrived() -> bool:
        rep = world.dbs.rep("alice")
        return await world.couch.get_or_none(rep, "product:NEW-1") is not None

    await wait_until(arrived, timeout=30, message="the product in alice's database")
    window = int(time.time()) // SYNC_NOW_WINDOW_S
    entries = await wait_until(
        lambda: sync_now_entries(world, "alice"), timeout=30, message="a sync-now push for alice"
    )
    assert entries[0]["notification_id"] is None  # a hint, not an inbox message
    # debounced: another change in the same window adds no second hint
    await world.couch.put(
        world.dbs.master, sample("product", **{"_id": "product:NEW-2"}, sku="NEW-2")
    )

    async def second_arrived() -> bool:
        rep = world.dbs.rep("alice")
        return await world.couch.get_or_none(rep, "product:NEW-2") is not None

    await wait_until(second_arrived, timeout=30, message="the second product")
    same_window = int(time.time()) // SYNC_NOW_WINDOW_S == window
    # one hint per user and window (a window boundary between the changes allows a second)
    assert len(await sync_now_entries(world, "alice")) == (1 if same_window else 2)


async def longpoll(world: World, user: str, timeout_ms: int) -> httpx.Response:
    async with world.http(user) as http:
        sync_path = "/sync/" + str(world.users[user].sync_url).split("/sync/")[1]
        return await http.get(
            f"{sync_path}/_changes",
            params={"feed": "longpoll", "since": "now", "timeout": str(timeout_ms)},
        )


async def test_a_phone_between_two_longpolls_gets_none_and_one_gone_gets_it_a_moment_later(
    world: World,
) -> None:
    """A change that lands while a phone is between two longpolls is read on its next one: no
    push. The same change for a phone that does not poll again is pushed, BETWEEN_POLLS_S on."""
    rep = world.dbs.rep("alice")
    await longpoll(world, "alice", 1000)  # answered (empty): alice is between two polls
    await world.couch.put(world.dbs.master, sample("product", **{"_id": "product:B-1"}))
    await wait_until(
        lambda: world.couch.get_or_none(rep, "product:B-1"), timeout=30, message="product B-1"
    )
    again = asyncio.create_task(longpoll(world, "alice", 20_000))  # her next poll
    await asyncio.sleep(BETWEEN_POLLS_S + 1.5)
    assert await sync_now_entries(world, "alice") == []
    again.cancel()
    await asyncio.gather(again, return_exceptions=True)

    await longpoll(world, "alice", 1000)  # and now she goes away
    await world.couch.put(world.dbs.master, sample("product", **{"_id": "product:B-2"}))
    await wait_until(
        lambda: world.couch.get_or_none(rep, "product:B-2"), timeout=30, message="product B-2"
    )
    entries = await wait_until(
        lambda: sync_now_entries(world, "alice"), timeout=30, message="a sync-now push for alice"
    )
    assert len(entries) == 1
