"""Which rep databases the router drains, and when: notifications and the safety-net sweep.

- ``mark(user)``: a write to the user's database was reported (discovery, a gateway in this
  process). One task per user drains it, again while new reports came in meanwhile, so a slow
  database never holds back the others (their drains run side by side, bounded by the router).
  A user whose lease ran out by the clock (``claims`` but not ``owns``) stays marked, and
  ``kick()`` after the next lease round starts the drain: a report is never dropped.
- the sweep (``sweep()``, a loop): a round over the owned users' ``update_seq`` every
  ``poll_interval_s``, at most ``sweep_per_s`` reads a second, so its cost does not grow with
  the users (a round just takes longer); ``resync()`` asks for a round at once and unpaced
  (discovery may have missed events). A database whose ``update_seq`` moved is marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from ..couch import CouchError
from ..work import ACTOR

log = structlog.get_logger(__name__)


class Drains:
    def __init__(
        self,
        *,
        drain: Callable[[str], Awaitable[bool]],  # False: not read to its end (lease lapsed)
        update_seq: Callable[[str], Awaitable[Any]],  # None: the database is gone
        owned: Callable[[], list[str]],
        owns: Callable[[str], bool],
        claims: Callable[[str], bool],
        poll_interval_s: float,
        sweep_per_s: float | None,
        retry_s: float,
        concurrency: int,
    ) -> None:
        self._drain = drain
        self._update_seq = update_seq
        self._owned = owned
        self._owns = owns
        self._claims = claims
        self.poll_interval_s = poll_interval_s
        self.sweep_per_s = sweep_per_s
        self.retry_s = retry_s
        self.dirty: set[str] = set()
        self.draining: dict[str, asyncio.Task[None]] = {}
        self._seen: dict[str, Any] = {}  # user -> update_seq at the last sweep
        self._resync = asyncio.Event()
        self._sem = asyncio.Semaphore(concurrency)  # the unpaced sweep's reads

    def mark(self, user_id: str) -> None:
        if not self._claims(user_id):
            return
        self.dirty.add(user_id)
        if user_id not in self.draining and self._owns(user_id):
            # a drain marked from a device's request must not count as the gateway's work
            context = contextvars.copy_context()
            context.run(ACTOR.set, "router")
            self.draining[user_id] = asyncio.create_task(
                self._run(user_id), name=f"router-drain-{user_id}", context=context
            )

    def kick(self) -> None:
        """Start the drains refused while a lease had run out by the clock."""
        for user_id in list(self.dirty):
            self.mark(user_id)

    def forget(self, user_id: str) -> None:
        self.dirty.discard(user_id)
        self._seen.pop(user_id, None)

    def resync(self) -> None:
        self._resync.set()

    async def stop(self) -> None:
        tasks = list(self.draining.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, user_id: str) -> None:
        try:
            while user_id in self.dirty:
                self.dirty.discard(user_id)
                try:
                    if not await self._drain(user_id):
                        self.dirty.add(user_id)  # not drained to its end: after the next round
                        return
                except CouchError as exc:
                    log.warning("router_rep_drain_failed", user_id=user_id, error=str(exc))
                    await asyncio.sleep(self.retry_s)
                    if self._owns(user_id):
                        self.dirty.add(user_id)
        finally:
            self.draining.pop(user_id, None)

    async def sweep(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync.wait(), self.poll_interval_s)
            paced = self.sweep_per_s is not None and not self._resync.is_set()
            self._resync.clear()
            try:
                if paced and self.sweep_per_s:
                    for user_id in self._owned():
                        await asyncio.sleep(1 / self.sweep_per_s)
                        await self._look(user_id)
                else:
                    await asyncio.gather(*(self._look(u) for u in self._owned()))
            except CouchError as exc:
                log.warning("router_rep_poll_failed", error=str(exc))

    async def _look(self, user_id: str) -> None:
        if not self._owns(user_id):
            return
        async with self._sem:
            seq = await self._update_seq(user_id)
        if seq is not None and seq != self._seen.get(user_id):
            self._seen[user_id] = seq
            self.mark(user_id)
