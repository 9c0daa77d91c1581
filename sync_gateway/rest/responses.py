"""How ``/sync`` answers: whole JSON, streamed JSON, and CouchDB's own answer passed through.

- :func:`json_response`: one body, gzipped from 1 KiB when the client accepts gzip;
- :func:`stream_response`: chunks as they come (change feeds), gzipped on the fly, counted in
  ``fieldsync_open_feeds{feed}`` while open;
- :func:`forward`: a request sent to CouchDB and its answer streamed back without holding it
  whole (answers up to ``SMALL_RESPONSE_BYTES`` in one piece); only ``PASS_HEADERS`` cross, and
  a body CouchDB sent gzipped stays gzipped. A break upstream ends the stream early (the client
  sees it cut short), never a second status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .. import metrics
from ..couch import CouchUnavailable
from ..couch.client import RawResponse
from .context import SyncContext
from .encoding import gzip_bytes, gzip_stream, wants_gzip
from .errors import JSON

SMALL_RESPONSE_BYTES = 512 * 1024
PASS_HEADERS = ("content-type", "etag", "content-encoding", "content-length")


def json_response(request: Request, body: Any, status: int = 200) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    if len(data) >= 1024 and wants_gzip(request):
        return Response(
            gzip_bytes(data),
            status,
            {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            media_type=JSON,
        )
    return Response(data, status, media_type=JSON)


def stream_response(
    request: Request, chunks: AsyncIterator[bytes], media_type: str = JSON, feed: str | None = None
) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache"}
    if wants_gzip(request):
        chunks = gzip_stream(chunks)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    if feed is not None:
        chunks = _counted(chunks, feed)
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


async def _counted(chunks: AsyncIterator[bytes], feed: str) -> AsyncIterator[bytes]:
    gauge = metrics.OPEN_FEEDS.labels(feed)
    gauge.inc()
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        gauge.dec()


async def forward(
    request: Request,
    ctx: SyncContext,
    method: str,
    path: str,
    params: dict[str, Any],
    content: bytes | None = None,
    accept: str = JSON,
) -> Response:
    """Send to CouchDB and stream its answer back without holding it whole."""
    headers = {"Accept": accept, "Content-Type": JSON}
    if wants_gzip(request):
        headers["Accept-Encoding"] = "gzip"
    else:
        headers["Accept-Encoding"] = "identity"
    resp = await ctx.couch.open(method, path, params=params, headers=headers, content=content)
    out_headers = {k: v for k, v in resp.headers.items() if k.lower() in PASS_HEADERS}
    length = resp.headers.get("content-length", "")
    if length.isdigit() and int(length) <= SMALL_RESPONSE_BYTES:
        # small answers in one piece: cheaper than streaming, and memory is bounded anyway
        return Response(await resp.read(), resp.status_code, out_headers)
    if resp.headers.get("content-encoding") == "gzip" or not wants_gzip(request):
        return StreamingResponse(raw_body(resp), resp.status_code, out_headers)
    out_headers.pop("content-length", None)
    out_headers["Content-Encoding"] = "gzip"
    return StreamingResponse(gzip_stream(raw_body(resp)), resp.status_code, out_headers)


async def raw_body(resp: RawResponse) -> AsyncIterator[bytes]:
    """The body as CouchDB sends it; a break ends the stream (the client sees it cut short)."""
    try:
        async for chunk in resp.iter_raw():
            yield chunk
    except CouchUnavailable:
        return
