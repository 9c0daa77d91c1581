"""Coalescing a device's push before the router carries it in (fan-in).

A phone pushes in batches (PouchDB: 100 documents per ``_bulk_docs``, the next batch right
after the answer). Draining the rep database after every batch puts the router's reads and
copies (``_changes``, ``_revs_diff``, ``_bulk_get``, ``_all_docs``, push records, the copy,
a checkpoint), and what they trigger downstream (the resolver's and the notifier's feeds, the
fan-out's look at the copy), in front of the phone's next batch on the same store. The phone
does not wait for any of it, so the router lets a push settle first::

    gateway: a device's _revs_diff, _bulk_docs, checkpoint (mark)
                          ┬── quiet for ``quiet_s`` ─────────────> drain (everything at once)
                          └── still pushing after ``max_hold_s`` ─> drain what is there, go on

:meth:`PushSettle.settle` returns at once for a database no gateway of this process marked
(a router in a process of its own learns of writes from CouchDB and drains at once), so the
delay a pushed document can see before the fan-in starts is at most ``max_hold_s``, and after
the push ends at most ``quiet_s``. Nothing is skipped: every row is still read and judged.
"""

from __future__ import annotations

import asyncio


class PushSettle:
    """Per database: when a device last pushed, and since when the pushes keep coming."""

    def __init__(self, quiet_s: float = 0.2, max_hold_s: float = 2.0) -> None:
        self.quiet_s = quiet_s
        self.max_hold_s = max_hold_s
        self._pushes: dict[str, tuple[float, float]] = {}  # db -> (first, last) unsettled push

    def mark(self, db: str) -> None:
        """A device's batch was just stored in ``db``."""
        now = asyncio.get_running_loop().time()
        first, _ = self._pushes.get(db, (now, now))
        self._pushes[db] = (first, now)

    async def settle(self, db: str) -> None:
        """Wait until ``db`` has had no push for ``quiet_s``, or pushes kept coming for
        ``max_hold_s`` since the first one not yet drained."""
        loop = asyncio.get_running_loop()
        while db in self._pushes:
            first, last = self._pushes[db]
            now = loop.time()
            wait = min(last + self.quiet_s, first + self.max_hold_s) - now
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        # what is pushed from here on is a new push; the drain that follows reads up to now
        self._pushes.pop(db, None)
