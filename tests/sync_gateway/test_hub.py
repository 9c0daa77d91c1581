"""The change hub: wake-ups and shared page reads."""

from __future__ import annotations

import asyncio

from sync_gateway.couch import CouchClient
from sync_gateway.hub import ChangeHub


async def test_a_read_begun_before_a_wake_up_is_not_joined_after_it() -> None:
    hub = ChangeHub(CouchClient("http://127.0.0.1:9"))  # never contacted here
    hub.server_wide = True  # no per-database watch task in this test
    release = asyncio.Event()
    reads: list[str] = []

    async def read(tag: str) -> str:
        reads.append(tag)
        await release.wait()
        return tag

    async with hub.subscribe("db") as sub:
        early = asyncio.create_task(hub.shared("db", "page", lambda: read("before")))
        await asyncio.sleep(0)
        joined = asyncio.create_task(hub.shared("db", "page", lambda: read("joined")))
        await asyncio.sleep(0)
        hub.notify("db")
        assert await sub.wait(1.0)
        late = asyncio.create_task(hub.shared("db", "page", lambda: read("after")))
        await asyncio.sleep(0)
        release.set()
        assert await early == "before"
        assert await joined == "before"  # same moment, same page: one request
        assert await late == "after"  # woken by a change: a fresh read, not the old one
    assert reads == ["before", "after"]
    assert hub.has_subscribers("db") is False
    await hub.stop()


async def test_wait_times_out_without_a_change_and_wakes_on_one() -> None:
    hub = ChangeHub(CouchClient("http://127.0.0.1:9"))
    hub.server_wide = True
    async with hub.subscribe("db") as sub:
        assert hub.has_subscribers("db")
        assert await sub.wait(0.05) is False
        asyncio.get_running_loop().call_later(0.05, hub.notify, "db")
        assert await sub.wait(5) is True
    await hub.stop()
