"""What the router tells the rest of the process: events, and which database it just wrote.

Events (``on_event(kind, payload)``; a coroutine it returns is awaited or tracked):

    "order_changed"        {"user_id", "doc"}        an fs_orders revision is about to reach a
                                                     rep db (awaited before the copy:
                                                     :meth:`Emitter.emit_now`)
    "assignment_gained"    {"user_id", "doc_ids"}    visits / work orders / territories
    "assignment_lost"      {"user_id", "doc_ids"}    (:meth:`Emitter.emit`, not awaited; the
                                                     fan-out waits for them with
                                                     :meth:`Emitter.settled` before it
                                                     checkpoints a page)

``on_db_written(db)`` after every write into a database (live feeds wake at once); it is not
awaited. Errors in either callback are logged and ignored: a subscriber's bug never stops the
router.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

EventCallback = Callable[[str, dict[str, Any]], Any]


class Emitter:
    """Delivers the router's events and write reports (see the module docstring)."""

    def __init__(
        self,
        on_event: EventCallback | None = None,
        on_db_written: Callable[[str], None] | None = None,
    ) -> None:
        self.on_event = on_event
        self.on_db_written = on_db_written
        self._event_tasks: set[asyncio.Task[Any]] = set()

    def written(self, db: str) -> None:
        if self.on_db_written is not None:
            try:
                self.on_db_written(db)
            except Exception as exc:  # a listener's bug must not stop the router
                log.warning("router_listener_failed", error=repr(exc))

    async def emit_now(self, kind: str, payload: dict[str, Any]) -> None:
        """Deliver an event and wait for its subscriber (errors are logged, never raised)."""
        if self.on_event is None:
            return
        try:
            result = self.on_event(kind, payload)
            if asyncio.iscoroutine(result):
                await result
        except Exception as exc:  # a subscriber's bug must not stop the router
            log.warning("router_event_failed", kind=kind, error=repr(exc))

    async def settled(self) -> None:
        """Wait for the events of this page, so the checkpoint never passes an unsent one."""
        while self._event_tasks:
            await asyncio.gather(*list(self._event_tasks), return_exceptions=True)

    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            result = self.on_event(kind, payload)
        except Exception as exc:  # a subscriber's bug must not stop the router
            log.warning("router_event_failed", kind=kind, error=repr(exc))
            return
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._event_tasks.add(task)
            task.add_done_callback(self._event_tasks.discard)
