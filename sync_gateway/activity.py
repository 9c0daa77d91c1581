"""Per-device sync activity (last pull, last push, user agent), recorded in memory and flushed.

Recording must cost nothing on the request path, so the gateway only updates a dict; a flusher
writes what changed to the device documents every few seconds in one batch. A crash loses at
most the last few seconds of "last seen" times, never a user's data.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from mobile_schema import utc_now

log = structlog.get_logger(__name__)

Flush = Callable[[Mapping[tuple[str, str], Mapping[str, Any]]], Awaitable[object]]


class ActivityRecorder:
    def __init__(self, flush: Flush, interval_s: float = 5.0) -> None:
        self._flush = flush
        self._interval = interval_s
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, user_id: str, device_id: str, kind: str, user_agent: str) -> None:
        entry = self._pending.setdefault((user_id, device_id), {})
        entry[f"last_{kind}"] = utc_now()
        if user_agent:
            entry["user_agent"] = user_agent[:300]

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._flush(batch)
        except Exception as exc:  # keep the times for the next round rather than lose them
            log.warning("device_activity_flush_failed", error=str(exc), devices=len(batch))
            for key, values in batch.items():
                self._pending.setdefault(key, {}).update(
                    {k: v for k, v in values.items() if k not in self._pending.get(key, {})}
                )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="device-activity-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
