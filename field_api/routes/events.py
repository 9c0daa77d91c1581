"""Live events for web users as server-sent events (back-office inbox, manager board).

GET /api/v1/events        admin, manager, backoffice; ``text/event-stream``

Frames are ``id: <epoch>-<seq>``, ``event: <topic>``, ``data: <json>``; topics and who sees them
are in :mod:`notifications.audience` (back office: ``order``; managers: ``assignment``, ``sync``,
``device_stale``; admins: all). A comment line (``: heartbeat``) every ``sse_heartbeat_s`` keeps
idle connections open through proxies.

Resume: reconnect with the ``Last-Event-ID`` header (browsers' EventSource does it by itself)
or ``?last_event_id=``; the events after it still in the process's replay buffer come first.
When that is impossible (another process, too old) the stream starts with a ``reset`` event:
reload the view. A client too slow to keep up is disconnected and resumes the same way.
503 when this process runs no notification services (``FIELDSYNC_RUN_WORKERS=false``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from notifications.audience import live_filter
from notifications.live import Filter, LiveEvent, LiveHub, Subscription, format_sse
from sync_gateway.auth.authenticate import Principal

from ..deps import ServicesDep, require_roles
from ..problems import ServiceUnavailable

router = APIRouter(prefix="/api/v1", tags=["events"])

Viewer = Annotated[Principal, Depends(require_roles("admin", "manager", "backoffice"))]
RETRY_MS = 3_000


@dataclass(frozen=True)
class EventsConfig:
    """``heartbeat_s``: a comment line this often keeps idle streams open through proxies."""

    heartbeat_s: float = 15.0


@router.get("/events", response_class=StreamingResponse)
async def events(
    principal: Viewer,
    s: ServicesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    resume: Annotated[str | None, Query(alias="last_event_id", max_length=64)] = None,
) -> StreamingResponse:
    """Server-sent events for the caller's role, resumable with Last-Event-ID."""
    if s.workers is None:
        raise ServiceUnavailable("live events run with the workers; this process has none")
    config = s.settings.events()
    stream = _stream(
        s.workers.notifier.live, live_filter(principal), last_event_id or resume, config.heartbeat_s
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _next(sub: Subscription) -> LiveEvent | None:
    """The next event, or None when the hub ended the subscription."""
    try:
        return await sub.__anext__()
    except StopAsyncIteration:
        return None


async def _stream(
    live: LiveHub, accept: Filter, last_event_id: str | None, heartbeat_s: float
) -> AsyncIterator[str]:
    # Subscribed when the body starts, so a request that never gets that far leaves nothing.
    sub = live.subscribe(accept, last_event_id)
    pending: asyncio.Task[LiveEvent | None] | None = None
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"  # sends the headers at once
        while True:
            if pending is None:
                pending = asyncio.ensure_future(_next(sub))
            # One waiting task across heartbeats: cancelling it to beat would be needless.
            done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
            if not done:
                yield ": heartbeat\n\n"
                continue
            event, pending = pending.result(), None
            if event is None:
                return  # cut off for being slow: the client resumes from its last id
            yield format_sse(event)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        await sub.aclose()
