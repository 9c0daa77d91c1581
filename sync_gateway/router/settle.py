"""Coalescing a device's push before the router carries it in (fan-in).

A phone pushes in batches (PouchDB: ``_revs_diff``, then ``_bulk_docs`` of 100 documents, a
checkpoint, and the next batch right away). Draining the rep database after every batch puts
the router's reads and copies (``_changes``, ``_revs_diff``, ``_bulk_get``, ``_all_docs``,
push records, the copy, a checkpoint), and what they set off (the resolver's and the
notifier's feeds, the fan-out's look at the copy), in front of the phone's next batch, on the
same store and the same process. The phone waits for none of it, so the router lets a push
settle first::

    a device's request on the db   ──┬── none in flight, none for ``quiet_s`` ──> drain
    (the gateway: ``pushing(db)``)   └── pushing for ``max_hold_s`` already ───> drain what
                                         is there (a long push is carried in as it goes)

:meth:`PushSettle.settle` returns at once for a database no gateway of this process reported
(a router in a process of its own learns of writes from CouchDB and drains at once). A pushed
document waits at most ``max_hold_s`` for the fan-in to start, and at most ``quiet_s`` after
the push ends. Nothing is skipped: every row is still read and judged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

POLL_S = 0.05  # how often a waiting drain looks again


@dataclass
class _Push:
    first: float  # the first request not yet drained
    last: float  # the end of the latest request
    in_flight: int = 0


class PushSettle:
    """Per database: whether a device is pushing, and since when."""

    def __init__(self, quiet_s: float = 0.25, max_hold_s: float = 5.0) -> None:
        self.quiet_s = quiet_s
        self.max_hold_s = max_hold_s
        self._pushes: dict[str, _Push] = {}

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def mark(self, db: str) -> None:
        """A device's request on ``db`` just ended (a batch, a ``_revs_diff``, a checkpoint)."""
        now = self._now()
        push = self._pushes.setdefault(db, _Push(now, now))
        push.last = now

    @contextlib.contextmanager
    def pushing(self, db: str) -> Iterator[None]:
        """A device's ``_bulk_docs`` on ``db`` is being screened and stored."""
        now = self._now()
        push = self._pushes.setdefault(db, _Push(now, now))
        push.in_flight += 1
        try:
            yield
        finally:
            push.in_flight -= 1
            push.last = self._now()

    def forget(self, db: str) -> None:
        """``db`` is gone: nothing of its pushes is kept."""
        self._pushes.pop(db, None)

    def pending(self, db: str) -> bool:
        """Whether :meth:`settle` would wait now (a poller can look again later instead)."""
        push = self._pushes.get(db)
        if push is None:
            return False
        now = self._now()
        if now - push.first >= self.max_hold_s:
            return False
        return push.in_flight > 0 or now - push.last < self.quiet_s

    async def settle(self, db: str) -> None:
        """Wait until ``db``'s push has paused for ``quiet_s`` (or went on ``max_hold_s``)."""
        # time-based (quiet, hold) rather than an event: nothing would set one
        while self.pending(db):  # noqa: ASYNC110
            await asyncio.sleep(POLL_S)
        # what is pushed from here on is a new push; the drain that follows reads up to now
        push = self._pushes.get(db)
        if push is not None:
            if push.in_flight:
                push.first = self._now()
            else:
                del self._pushes[db]
