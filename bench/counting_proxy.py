"""A streaming HTTP proxy that counts requests, put by a benchmark between workers and the store.

    python -m bench.counting_proxy PORT TARGET_URL

Every request is forwarded as is (continuous feeds stream through chunk by chunk) and counted by
kind (``GET /_db_updates``, ``PUT doc``, ``GET db``, ``GET _changes`` ...). ``GET /__counts``
answers the counts so far (not forwarded). Run as a process of its own so its CPU is not the
benchmark's.
"""

from __future__ import annotations

import collections
import contextlib
import sys
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def kind(method: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return f"{method} /"
    if parts[0].startswith("_"):
        return f"{method} /{parts[0]}"
    if len(parts) == 1:
        return f"{method} db"
    if parts[1].startswith("_") and parts[1] != "_local":
        return f"{method} {parts[1]}"
    return f"{method} {'local' if parts[1] == '_local' else 'doc'}"


def main() -> None:
    port, target = int(sys.argv[1]), sys.argv[2].rstrip("/")
    # the clients send their own Authorization header: the target's credentials are dropped
    parts = urlsplit(target)
    target = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    counts: collections.Counter[str] = collections.Counter()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/__counts":
            return web.json_response(dict(counts))
        counts[kind(request.method, request.path)] += 1
        session: aiohttp.ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        body = await request.read()
        async with session.request(
            request.method,
            target + request.rel_url.raw_path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            resp = web.StreamResponse(status=upstream.status)
            for k, v in upstream.headers.items():
                if k.lower() not in HOP and k.lower() != "content-encoding":
                    resp.headers[k] = v
            await resp.prepare(request)
            # a feed cut off upstream (a worker killed, the store restarting) just ends here
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
            return resp

    async def start(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
        )

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    app = web.Application(client_max_size=1 << 30)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
