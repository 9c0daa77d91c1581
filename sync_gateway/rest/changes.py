"""``GET|POST /sync/{db}/_changes``: the change feed, in every mode CouchDB has.

The query (and a POST body's ``doc_ids``) is parsed and checked by ``feeds.FeedRequest``; the
feed itself is ``feeds.Feeds`` (the change hub holds live feeds without a CouchDB request per
device). ``continuous`` and ``eventsource`` stream until the client goes; ``longpoll`` streams
its one answer; a ``normal`` feed that fits one page (the usual replicator request, since +
limit) is answered in one piece, a longer one is streamed, never buffered whole.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..feeds import FeedRequest
from .context import SyncContext, endpoint, record_activity
from .encoding import read_body
from .errors import JSON, GatewayError
from .responses import json_response, stream_response


@endpoint("changes")
async def changes(request: Request, ctx: SyncContext) -> Response:
    body = None
    if request.method == "POST":
        raw = await read_body(request, ctx.settings.max_request_bytes)
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise GatewayError(400, "bad_request", f"invalid UTF-8 JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise GatewayError(400, "bad_request", "the body must be a JSON object")
    req = FeedRequest.parse(request.query_params, body)
    feeds = ctx.gateway.feeds
    record_activity(ctx, request, "pull")
    if req.feed in ("continuous", "eventsource"):
        await ctx.couch.db_info(ctx.db)  # fail now with a status, not inside the stream
        media = "text/event-stream" if req.feed == "eventsource" else JSON
        return stream_response(
            request,
            feeds.continuous(ctx.db, req, eventsource=req.feed == "eventsource"),
            media,
            feed=req.feed,
        )
    mark = feeds.hub.mark(ctx.db)  # before the read: a longpoll that waits need not read again
    first = await feeds.first_page(ctx.db, req)
    if req.feed == "longpoll":
        return stream_response(request, feeds.longpoll(ctx.db, req, first, mark), feed="longpoll")
    if feeds.is_complete(req, first):
        # the usual replicator request (since + limit): one page, answered in one piece
        body = b"".join([chunk async for chunk in feeds.normal(ctx.db, req, first)])
        return json_response(request, body)
    return stream_response(request, feeds.normal(ctx.db, req, first))
