"""First sync of a new phone: plain replication vs snapshot + follow-up, over a slow link.

For each size (default 20,000 and 100,000 documents) a rep database is filled, the service's
background builder makes its snapshot (as it would overnight), and two fresh PouchDB phones
sync through the gateway behind a local proxy that adds ``--delay-ms`` (100) to every request:

    plain     db.replicate.from(sync_url)
    snapshot  GET sync_url/_snapshot (gzip) -> pouchdb-load db.load(dump, {proxy: sync_url}),
              then db.replicate.from(sync_url), which must start at the snapshot's sequence

Printed per phase: wall time, requests and bytes through the proxy (both directions, as sent:
compressed when gzipped), documents the follow-up read, and the gateway's resident memory
(before, peak) sampled every 50 ms. Bars (issue 16): 20,000 docs under 4 s, 100,000 under 20 s,
the follow-up reads 0 documents, the gateway's memory flat while serving (streamed).

    .venv/bin/python -m bench first_sync [--sizes 20000,100000] [--delay-ms 100] [--no-plain]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from sync_gateway.couch.embedded import free_port

from .common import Stack, rss_mb, stack
from .gateway_sync import fill, rep_database

HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "upgrade"}
BARS = {20_000: 4.0, 100_000: 20.0}


@dataclass
class Link:
    """A reverse proxy that delays every request, counting requests and bytes on the wire."""

    target: str
    delay_s: float
    requests: int = 0
    bytes: int = 0
    port: int = field(default_factory=free_port)

    def reset(self) -> None:
        self.requests = 0
        self.bytes = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await asyncio.sleep(self.delay_s)
        body = await request.read()
        self.bytes += len(body) + sum(len(k) + len(v) + 4 for k, v in request.headers.items())
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        assert self.session is not None
        async with self.session.request(
            request.method, self.target + request.path_qs, headers=headers, data=body or None
        ) as upstream:
            out = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP},
            )
            if "content-length" in upstream.headers:
                out.content_length = int(upstream.headers["content-length"])
            await out.prepare(request)
            async for chunk in upstream.content.iter_any():
                self.bytes += len(chunk)
                await out.write(chunk)
            await out.write_eof()
            return out

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Link]:
        self.session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            await runner.cleanup()
            await self.session.close()

    session: aiohttp.ClientSession | None = None


@contextlib.asynccontextmanager
async def peak_memory(pid: int) -> AsyncIterator[dict[str, float]]:
    """``{"before", "peak"}`` resident MB of ``pid`` over the block."""
    seen = {"before": rss_mb(pid), "peak": 0.0}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            seen["peak"] = max(seen["peak"], rss_mb(pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)

    task = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        stop.set()
        await task
        seen["peak"] = max(seen["peak"], rss_mb(pid))


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (robust to a busy machine, unlike time)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_for_snapshot(st: Stack, user: str, seq_at_least: int) -> dict[str, Any]:
    started = time.perf_counter()
    while time.perf_counter() - started < 900:
        doc = await st.couch.get_or_none(f"{st.prefix}fs_ops", f"snapshot:{user}")
        if doc and doc.get("attachment") and doc.get("seq_number", 0) >= seq_at_least:
            return doc
        await asyncio.sleep(0.5)
    raise RuntimeError("the builder made no snapshot in 15 minutes")


async def one_size(st: Stack, link: Link, total: int, plain: bool) -> list[str]:
    from support.phone import Phone  # type: ignore[import-not-found]

    user = f"first{total}"
    sync_url, headers = await st.user(user)
    db = sync_url.rsplit("/", 1)[1]
    docs = rep_database(total)
    fill_started = time.perf_counter()
    await fill(st, db, docs)
    filled = time.perf_counter()
    seq = (await st.couch.db_info(db))["update_seq"]
    snap = await wait_for_snapshot(st, user, int(str(seq).split("-")[0]))
    build_s = time.perf_counter() - filled
    slow_url = link.url + "/sync/" + db
    lines = [
        f"## {total} documents (filled in {filled - fill_started:.0f} s; snapshot built "
        f"{build_s:.1f} s after in the background: {snap['gz_bytes'] / 1e6:.1f} MB gzipped, "
        f"{snap['raw_bytes'] / 1e6:.1f} MB plain)"
    ]
    results: dict[str, float] = {}
    if plain:
        async with Phone(replication_timeout=3600) as phone:
            await phone.start(Path(tempfile.mkdtemp(prefix="bench-phone-")))
            link.reset()
            async with peak_memory(st.gateway_pid) as mem:
                started = time.perf_counter()
                result = await phone.pull(slow_url, headers=headers, log_requests=False)
                results["plain"] = time.perf_counter() - started
            assert result["docs_written"] == total, result
            lines.append(
                f"plain replication      {results['plain']:7.1f} s  {link.requests:6d} requests  "
                f"{link.bytes / 1e6:7.1f} MB  gateway {mem['before']:.0f} -> peak "
                f"{mem['peak']:.0f} MB"
            )
    async with Phone(replication_timeout=3600) as phone:
        await phone.start(Path(tempfile.mkdtemp(prefix="bench-phone-")))
        link.reset()
        phone_cpu = cpu_s(phone.pid)
        async with peak_memory(st.gateway_pid) as mem:
            started = time.perf_counter()
            loaded = await phone.load(
                slow_url + "/_snapshot", slow_url, headers=headers, log_requests=False
            )
            load_s = time.perf_counter() - started
            load_requests, load_bytes = link.requests, link.bytes
            follow = await phone.pull(slow_url, headers=headers, log_requests=False)
            results["snapshot"] = time.perf_counter() - started
        phone_cpu = cpu_s(phone.pid) - phone_cpu
        info = await phone.info()
        assert info["doc_count"] == total, info
        assert loaded["headers"].get("content-encoding") == "gzip", loaded
        bar = BARS.get(total)
        verdict = ""
        if bar is not None:
            verdict = f"(bar {bar:.0f} s: {'met' if results['snapshot'] < bar else 'MISSED'})"
        lines.append(
            f"snapshot + follow-up   {results['snapshot']:7.1f} s  {link.requests:6d} requests  "
            f"{link.bytes / 1e6:7.1f} MB  gateway {mem['before']:.0f} -> peak "
            f"{mem['peak']:.0f} MB  {verdict}"
        )
        lines.append(
            f"  of which: load {load_s:.1f} s ({load_requests} requests, "
            f"{load_bytes / 1e6:.1f} MB), follow-up {results['snapshot'] - load_s:.1f} s "
            f"({link.requests - load_requests} requests, {follow['docs_read']} documents read); "
            f"phone CPU {phone_cpu:.1f} s, link waits {link.requests * link.delay_s:.1f} s"
        )
    if "plain" in results:
        lines.append(f"speed-up               {results['plain'] / results['snapshot']:.0f}x")
    return lines


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    env = {
        "FIELDSYNC_SNAPSHOT_CHECK_S": "1",
        "FIELDSYNC_SNAPSHOT_MIN_DOCS": "1000",
        "FIELDSYNC_ROUTER_POLL_S": "60",
    }
    async with stack(workers=True, **env) as st:
        link = Link(st.gateway_url, args.delay_ms / 1000)
        async with link.running():
            print(
                f"# first sync through the gateway over a link adding {args.delay_ms} ms per "
                f"request ({st.couch_url})"
            )
            for total in sizes:
                for line in await one_size(st, link, total, not args.no_plain):
                    print(line, flush=True)


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--delay-ms", type=int, default=100)
    parser.add_argument("--no-plain", action="store_true", help="skip plain replication")
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
