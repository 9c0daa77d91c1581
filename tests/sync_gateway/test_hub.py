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


async def test_a_broken_db_updates_feed_wakes_every_waiting_feed_when_it_resumes() -> None:
    """CouchDB 3's ``_db_updates`` (PouchDB Server has none, so a stand-in server speaks it
    here): changes made while the feed was down are never reported by it, so on reconnecting
    the hub wakes every waiting feed to re-read; nothing waits for the next unrelated change."""
    from aiohttp import web

    from sync_gateway.couch.embedded import free_port

    release, finished = asyncio.Event(), asyncio.Event()
    streams = 0

    async def db_updates(request: web.Request) -> web.StreamResponse:
        nonlocal streams
        if request.query.get("feed") != "continuous":
            return web.json_response({"results": [], "last_seq": f"{streams}-x"})
        streams += 1
        resp = web.StreamResponse()
        await resp.prepare(request)
        if streams == 1:
            await release.wait()  # then the connection breaks, as when a node restarts
            return resp
        await finished.wait()  # the second feed stays open and silent
        return resp

    app = web.Application()
    app.router.add_get("/_db_updates", db_updates)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hub = ChangeHub(CouchClient(f"http://127.0.0.1:{port}"))
    try:
        await hub.start()
        assert hub.server_wide
        for _ in range(100):  # the first feed is open (its start wakes feeds of its own)
            if streams:
                break
            await asyncio.sleep(0.05)
        async with hub.subscribe("rep_ana") as sub:
            assert not await sub.wait(0.3)  # nothing yet
            release.set()  # the feed breaks; a write to rep_ana in the gap is never reported
            assert await sub.wait(5.0), "the waiting feed was not woken after the reconnect"
    finally:
        finished.set()
        await hub.stop()
        await hub.couch.aclose()
        await runner.cleanup()
