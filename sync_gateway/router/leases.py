"""Which router worker does what: leases in fs_ops, so several workers share the field users.

Every lease is a :class:`notifications.lease.Lease` (the scheduler's building block): a document
written back with its ``_rev``, so of two workers racing for one revision exactly one wins (the
other gets a 409); a holder that stops renewing loses it at ``expires_at``::

    fs_ops/lease:router-worker:<holder>   a worker's presence: the live ones are counted
    fs_ops/lease:router-shared            the fan-out (fs_master, fs_field, fs_orders -> rep dbs)
                                          and every other write into a rep db (reconciliation)
    fs_ops/lease:router-bucket:<nn>       the fan-in of the users of bucket nn (00 .. BUCKETS-1):
                                          bucket = int(md5(user id)[:8], 16) % BUCKETS

Users are leased by bucket, not one document each: the cost of the leases is then the same for
1,000 users and for 50,000, and a bucket moves between workers as a whole.

One round every third of the time to live (``ttl``), in this order:

1. read every router lease (one ``_all_docs`` request) and renew the presence lease;
2. fair share = ceil(BUCKETS / live workers) (a worker counts itself);
3. buckets held above the fair share are handed back: the listener stops working on their
   users first (``lost``), then the lease is released, so the taker finds no drain in flight;
4. buckets held are renewed; free or expired ones are taken while below the fair share;
5. ``router-shared`` is taken when free or expired, renewed when ours.

Changes are reported to the listener as ``Change(gained, lost, shared)``; a gain is reported
after the lease is written, a loss before it is released. A lease can also lapse without a round
noticing (renewals failing while CouchDB is away): :meth:`LeasedOwnership.owns` asks the lease
itself, whose ``held`` ends at the holder's own last ``expires_at``, so the worker stops touching
those users by its own clock before anyone else may take them (hence: ttl much longer than clock
skew and than one page of work).

A killed worker's leases expire ``ttl`` after its last renewal; the others see that at their next
round and take its buckets: within ``ttl + ttl / 3``, under the two lease periods promised.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from mobile_schema import utc_now_datetime
from notifications.lease import Lease, is_live

from ..couch import CouchClient, CouchError

log = structlog.get_logger(__name__)

BUCKETS = 16  # every worker of a deployment must agree on it
PREFIX = "lease:router-"


def bucket_of(user_id: str) -> int:
    """The bucket of a field user (stable across processes and restarts)."""
    digest = hashlib.md5(user_id.encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % BUCKETS


class RouterError(Exception):
    """Base of the router's own errors (CouchDB's are ``sync_gateway.couch.CouchError``).

    RouterError
     └── LeaseLapsed   work needs a lease this worker no longer holds by its own clock
    """


class LeaseLapsed(RouterError):
    pass


@dataclass(frozen=True)
class Change:
    """What a round changed; every round reports one, empty or not (``renewed``)."""

    gained: frozenset[int] = frozenset()
    lost: frozenset[int] = frozenset()
    shared: bool | None = None  # True gained (or held again after someone else), False lost


Listener = Callable[[Change], Awaitable[None]]


class Ownership(Protocol):
    """What the router asks: may I work on this user / on the shared fan-out now?"""

    @property
    def owns_shared(self) -> bool: ...

    def owns(self, user_id: str) -> bool: ...

    def claims(self, user_id: str) -> bool: ...

    def listen(self, listener: Listener) -> None: ...

    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


class SoleOwnership:
    """Everything, always: one router alone (tests, ``worker --once``)."""

    owns_shared = True

    def owns(self, user_id: str) -> bool:
        return True

    def claims(self, user_id: str) -> bool:
        return True

    def listen(self, listener: Listener) -> None:
        pass

    async def start(self) -> None:
        pass

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        pass


@dataclass
class _State:
    buckets: dict[int, Lease] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)  # as last reported to the listener
    shared_held: bool = False


class LeasedOwnership:
    """Shares buckets and the shared fan-out among the live workers; see the module docstring."""

    def __init__(
        self,
        couch: CouchClient,
        ops_db: str,
        holder: str,
        *,
        ttl_s: float = 15.0,
        now: Callable[[], datetime] = utc_now_datetime,
    ) -> None:
        self.couch = couch
        self.ops_db = ops_db
        self.holder = holder
        self.ttl = timedelta(seconds=ttl_s)
        self.now = now
        # what the presence lease shows of this worker (the router sets it: its users, feeds)
        self.details: Callable[[], Mapping[str, Any]] | None = None

        def lease(name: str, with_details: bool = False) -> Lease:
            extra = self._details if with_details else None
            return Lease(couch, ops_db, holder, name=name, ttl=self.ttl, now=now, details=extra)

        self.presence = lease(f"router-worker:{holder}", with_details=True)
        self.shared = lease("router-shared")
        self._s = _State(buckets={b: lease(f"router-bucket:{b:02d}") for b in range(BUCKETS)})
        self._listeners: list[Listener] = []
        self._stopped = False
        self._rounds = 0
        self.live_workers = 1

    @property
    def owns_shared(self) -> bool:
        return self.shared.held

    def owns(self, user_id: str) -> bool:
        # a bucket being handed back is no longer ours, though its lease still is
        bucket = bucket_of(user_id)
        return bucket in self._s.held and self._s.buckets[bucket].held

    def claims(self, user_id: str) -> bool:
        """Held at the last round, though its lease may have run out by the clock since (a
        renewal late): work refused meanwhile is kept for after the next round."""
        return bucket_of(user_id) in self._s.held

    def _details(self) -> Mapping[str, Any]:
        base: dict[str, Any] = {
            "buckets": sorted(self._s.held),
            "shared": self._s.shared_held,
            "workers": self.live_workers,
        }
        if self.details is not None:
            base.update(self.details())
        return base

    @property
    def buckets_held(self) -> list[int]:
        return sorted(b for b, lease in self._s.buckets.items() if lease.held)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """The first round, so the router starts knowing what it owns (once)."""
        if not self._rounds:
            await self.round()

    async def run(self) -> None:
        """A round every ttl / 3 until stopped (a failed round is logged and retried)."""
        interval = max(self.ttl.total_seconds() / 3, 0.05)
        loop = asyncio.get_running_loop()
        next_round = loop.time()
        while not self._stopped:
            # at a fixed cadence: a slow round does not push the next renewal back
            next_round = max(next_round + interval, loop.time())
            await asyncio.sleep(next_round - loop.time())
            try:
                await self.round()
            except CouchError as exc:
                log.warning("router_lease_round_failed", error=str(exc))

    async def stop(self) -> None:
        """Hand everything back at once, so the others need not wait for expiry."""
        self._stopped = True
        held = frozenset(self._s.held)
        shared = self._s.shared_held
        self._s.held = set()
        self._s.shared_held = False
        if held or shared:
            await self._tell(Change(lost=held, shared=False if shared else None))
        with contextlib.suppress(CouchError):
            for b in held:
                await self._s.buckets[b].release()
            await self.shared.release()
            await self.presence.release()

    async def round(self) -> None:
        if self._stopped:
            return
        self._rounds += 1
        docs = await self._read()
        now = self.now()
        state = self._s
        presence = asyncio.ensure_future(self.presence.acquire(docs.get(self.presence.doc_id)))
        workers = {
            d["holder"]
            for i, d in docs.items()
            if i.startswith(PREFIX + "worker:") and is_live(d, now)
        } | {self.holder}
        self.live_workers = len(workers)
        share = math.ceil(BUCKETS / len(workers))
        mine = sorted(b for b, lease in state.buckets.items() if self._ours(docs, lease, now))
        extra = frozenset(mine[share:])
        if extra:
            # stop working on them before anyone can take them over
            state.held -= extra
            await self._tell(Change(lost=extra))
            await asyncio.gather(*(state.buckets[b].release() for b in extra))
            log.info("router_buckets_handed_back", buckets=sorted(extra), share=share)
        keep = mine[:share]
        free = [
            b
            for b, lease in state.buckets.items()
            if b not in mine and not is_live(docs.get(lease.doc_id), now)
        ]
        wanted = keep + free[: max(0, share - len(keep))]
        # concurrently: a round must take one request's time, not one per lease, or under load
        # the last lease renewed would run out before the next round
        results = await asyncio.gather(
            *(state.buckets[b].acquire(docs.get(state.buckets[b].doc_id)) for b in wanted),
            self.shared.acquire(docs.get(self.shared.doc_id)),
            presence,
        )
        held = {b for b, ok in zip(wanted, results, strict=False) if ok}
        shared = bool(results[len(wanted)])
        # held again after someone else held it in between: work from their checkpoints
        gained = frozenset(
            b for b in held if b not in state.held or not state.buckets[b].continuous
        )
        lost = frozenset(state.held - held)
        shared_change: bool | None = None
        if shared and (not state.shared_held or not self.shared.continuous):
            shared_change = True
        elif state.shared_held and not shared:
            shared_change = False
        state.held = held
        state.shared_held = shared
        changed = gained or lost or shared_change is not None
        if changed:
            log.info(
                "router_leases_changed",
                holder=self.holder,
                gained=sorted(gained),
                lost=sorted(lost),
                shared=shared,
                workers=len(workers),
            )
        await self._tell(Change(gained, lost, shared_change))

    async def _read(self) -> dict[str, dict[str, Any]]:
        result = await self.couch.all_docs(
            self.ops_db, startkey=PREFIX, endkey=PREFIX + "\ufff0", include_docs=True
        )
        return {r["id"]: r["doc"] for r in result["rows"] if r.get("doc")}

    async def _tell(self, change: Change) -> None:
        for listener in self._listeners:
            await listener(change)

    def _ours(self, docs: Mapping[str, Mapping[str, Any]], lease: Lease, now: datetime) -> bool:
        """Held by us in the store (a lease we released, or let lapse, is free again)."""
        doc = docs.get(lease.doc_id)
        return is_live(doc, now) and doc is not None and doc.get("holder") == self.holder
