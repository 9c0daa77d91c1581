"""The change hub: wake-ups and shared page reads."""

from __future__ import annotations

import asyncio

import orjson
from polling import wait_until

from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
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


async def test_a_subscription_counts_from_a_mark_of_its_own_watch_only() -> None:
    hub = ChangeHub(CouchClient("http://127.0.0.1:9"))
    hub.server_wide = True
    assert hub.mark("db") is None  # not watched: no mark, the caller reads after subscribing
    async with hub.subscribe("db") as holder:
        quiet = hub.mark("db")
        async with hub.subscribe("db", mark=quiet) as sub:
            assert (sub.from_mark, sub.changed) == (True, False)
        moved = hub.mark("db")
        hub.notify("db")  # a change after the mark was taken (during the caller's read)
        async with hub.subscribe("db", mark=moved) as sub:
            assert (sub.from_mark, sub.changed) == (True, True)
            assert await sub.wait(0.05) is False  # reported once, then counted from now
        assert await holder.wait(0.05) is True
    stale = hub.mark("db")
    hub._drop("db", hub._watches["db"])  # the lingering watch is dropped; a new one begins
    async with hub.subscribe("db", mark=stale) as sub:
        assert (sub.from_mark, sub.changed) == (False, False)
    await hub.stop()


async def test_a_longpoll_on_a_watched_db_reads_once_before_it_waits_and_misses_nothing(
    couch: CouchClient, dbs: Databases
) -> None:
    """With the mark taken before its first read, a longpoll that finds nothing waits at once
    (no second read), and a change made between that read and its wait still answers it."""
    from sync_gateway.feeds import FeedRequest, Feeds

    db = dbs.rep("hubmark")  # this test's own, removed after it
    await couch.create_db(db)
    hub = ChangeHub(couch)
    await hub.start()
    feeds = Feeds(couch, hub)
    reads = 0
    page = feeds.page

    async def counted(*args: object, **kwargs: object) -> dict[str, object]:
        nonlocal reads
        reads += 1
        return await page(*args, **kwargs)  # type: ignore[arg-type]

    feeds.page = counted  # type: ignore[method-assign]
    req = FeedRequest.parse({"feed": "longpoll", "timeout": "10000"})

    async def poll(since: object, write_before_wait: str | None = None) -> dict[str, object]:
        mark = hub.mark(db)
        first = await feeds.first_page(db, FeedRequest(**{**req.__dict__, "since": since}))
        if write_before_wait is not None:
            await couch.put(db, {"_id": write_before_wait})
            # the hub has heard of it before the longpoll subscribes
            await wait_until(lambda: hub.mark(db) != mark, timeout=10, message="the wake-up")
        chunks = [c async for c in feeds.longpoll(db, req, first, mark)]
        return orjson.loads(b"".join(chunks).strip())

    async with hub.subscribe(db):  # another device of the user holds a feed: db is watched
        while True:  # quiet: CouchDB's _db_updates may report the creation up to 0.5 s late
            before = hub.mark(db)
            await asyncio.sleep(1.0)
            if hub.mark(db) == before:
                break
        asyncio.get_running_loop().call_later(
            0.3, asyncio.ensure_future, couch.put(db, {"_id": "a"})
        )
        reads = 0
        answer = await poll(0)
        assert [r["id"] for r in answer["results"]] == ["a"]
        assert reads == 2  # the first page, and the one after the wake-up: none in between
        answer = await poll(answer["last_seq"], write_before_wait="b")
        assert [r["id"] for r in answer["results"]] == ["b"]
    await hub.stop()
