"""Bodies in and out of the sync gateway: size-limited reads and gzip for slow links.

Requests: the body is read with a byte limit (``413 too_large`` beyond it) and parsed as JSON
(``400 bad_request`` when it is not). Responses: when the device sends ``Accept-Encoding: gzip``
JSON answers larger than a kilobyte are compressed, and streamed feeds are compressed chunk by
chunk with a sync flush after each, so a live change is never held back in the compressor.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request

GZIP_LEVEL = 5
MIN_GZIP_BYTES = 1024


class BodyError(Exception):
    """The request body cannot be used; ``status``, ``error`` and ``reason`` say why."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason


async def read_body(request: Request, limit: int) -> bytes:
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding not in ("identity", ""):
        raise BodyError(415, "bad_content_type", f"Content-Encoding {encoding} is not accepted")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyError(413, "too_large", f"the request is larger than {limit} bytes")
        except ValueError as exc:
            raise BodyError(400, "bad_request", "Content-Length is not a number") from exc
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, "too_large", f"the request is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    body = await read_body(request, limit)
    if not body.strip():
        raise BodyError(400, "bad_request", "the request body is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "bad_request", f"invalid UTF-8 JSON: {exc}") from exc


def wants_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def gzip_bytes(body: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(body) + compressor.flush()


async def gzip_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    async for chunk in chunks:
        out = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if out:
            yield out
    yield compressor.flush()
