"""A lease in CouchDB so that one process of many runs the scheduled jobs.

lease document (ops database)::

    {"_id": "lease:scheduler", "type": "lease", "holder": "<process id>",
     "expires_at": ts, "acquired_at": ts, "renewed_at": ts}

:meth:`Lease.acquire` both takes and renews: it reads the document and writes it back with its
``_rev`` when the lease is free (missing), ours, or expired. CouchDB accepts only one write per
revision, so of two processes racing for the same revision exactly one wins; the other gets a
409 and is not the holder. A holder that stops renewing loses the lease at ``expires_at``; a
holder whose renewal meets a document someone else already took over learns it lost.

Several leases at once (the router's, ``sync_gateway/router/leases.py``): the caller may read
them all in one request and pass each document to :meth:`Lease.acquire` (``current``), which
then writes without reading again; a document read too long ago only costs a 409. ``details``
adds a ``details`` object to every write (what the holder wants others to see: its load, the
health of its feeds), and :func:`is_live` tells whether a lease document someone holds is
still in force.

Clocks: every process compares ``expires_at`` with its own clock, so the time to live must be
much longer than the clock skew between hosts (seconds, with NTP); the default is 60 s, renewed
every 20 s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from mobile_schema import format_timestamp, parse_timestamp, utc_now_datetime

from .store import DocStore, get_or_none, is_conflict

log = structlog.get_logger(__name__)


_UNREAD: Any = object()  # acquire() reads the lease document itself


def is_live(doc: Mapping[str, Any] | None, now: datetime) -> bool:
    """Whether a lease document is held by someone (not missing, released or expired)."""
    if doc is None or not doc.get("holder"):
        return False
    return parse_timestamp(doc["expires_at"]) > now


class Lease:
    def __init__(
        self,
        store: DocStore,
        ops_db: str,
        holder: str,
        *,
        name: str = "scheduler",
        ttl: timedelta = timedelta(seconds=60),
        now: Callable[[], datetime] = utc_now_datetime,
        details: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.ops_db = ops_db
        self.holder = holder
        self.doc_id = f"lease:{name}"
        self.ttl = ttl
        self.now = now
        self.details = details
        self._held_until: datetime | None = None
        self._rev: str | None = None  # of our last write
        # whether the last acquire renewed our own last write: nobody held it in between
        self.continuous = False

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now (by its own last successful write)."""
        return self._held_until is not None and self.now() < self._held_until

    async def acquire(self, current: Mapping[str, Any] | None = _UNREAD) -> bool:
        """Take the lease if free or expired, renew it if ours; True when we hold it after.

        ``current``: the lease document as the caller just read it (None: there is none).
        """
        now = self.now()
        if current is _UNREAD:
            current = await get_or_none(self.store, self.ops_db, self.doc_id)
        ts = format_timestamp(now)
        doc: dict[str, Any] = {
            "_id": self.doc_id,
            "type": "lease",
            "holder": self.holder,
            "expires_at": format_timestamp(now + self.ttl),
            "acquired_at": ts,
            "renewed_at": ts,
        }
        if self.details is not None:
            doc["details"] = dict(self.details())
        if current is not None:
            ours = current.get("holder") == self.holder
            expired = parse_timestamp(current["expires_at"]) <= now
            if not ours and not expired:
                self._held_until = None
                return False
            doc["_rev"] = current["_rev"]
            if ours:
                doc["acquired_at"] = current.get("acquired_at", ts)
            else:
                log.info("lease_taken_over", lease=self.doc_id, previous=current.get("holder"))
        try:
            result = await self.store.put(self.ops_db, doc)
        except Exception as exc:
            if not is_conflict(exc):
                raise
            self._held_until = None
            self.continuous = False
            return False
        self.continuous = current is not None and current.get("_rev") == self._rev
        self._rev = result.get("rev")
        self._held_until = now + self.ttl
        return True

    async def release(self) -> None:
        """Give the lease up at once (on shutdown), so another process need not wait."""
        if not self.held:
            return
        self._held_until = None
        current = await get_or_none(self.store, self.ops_db, self.doc_id)
        if current is None or current.get("holder") != self.holder:
            return
        current["expires_at"] = format_timestamp(self.now())
        try:
            await self.store.put(self.ops_db, current)
        except Exception as exc:
            if not is_conflict(exc):
                raise
