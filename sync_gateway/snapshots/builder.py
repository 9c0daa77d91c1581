"""The snapshot builder: keeps every field user's snapshot fresh, in the background.

It looks at a user's database only when there is a reason to: once for every field user when it
starts (``_all_dbs``), then for the users the router reports written (:meth:`changed`, from the
router's discovery: ``_db_updates`` or the per-database feeds), for a user whose snapshot will
be old enough to rebuild (``Policy.max_age_s`` after it was built, if anything changed since),
and for a user a phone asked about (:meth:`want`, the gateway, when a snapshot was missing or
stale). A look is the database's info and the current snapshot (two reads); it builds the
snapshots :func:`policy.reason_to_build` asks for, one at a time (a build reads the whole
database: one at a time keeps CouchDB free for the phones). So with nothing written it sends
nothing, however many users there are; written, at most one look per user per ``check_s``.

With several router workers each builds for the users it owns (``owns``: the router's leases).
A build writes the dump to a temporary file (memory stays flat however big the database) and
stores it with :class:`store.SnapshotStore`; the file is removed afterwards. Two builders at once
are harmless (the store keeps the newer snapshot), only wasteful.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from ..couch import CouchClient, CouchError, CouchNotFound
from ..databases import Databases
from .dump import DumpWriter, write_dump
from .policy import Policy, reason_to_build, seq_number
from .store import Snapshot, SnapshotStore

log = structlog.get_logger(__name__)


class SnapshotBuilder:
    def __init__(
        self,
        couch: CouchClient,
        dbs: Databases,
        policy: Policy,
        *,
        check_s: float = 60.0,
        owns: Callable[[str], bool] | None = None,
        scratch_dir: Path | None = None,
    ) -> None:
        self.couch = couch
        self.dbs = dbs
        self.policy = policy
        self.store = SnapshotStore(couch, dbs)
        self.check_s = check_s
        self.scratch_dir = scratch_dir
        self._owns = owns or (lambda _user: True)
        self._wanted: list[str] = []
        self._due: dict[str, float] = {}  # user -> when to look at it (time.monotonic)
        self._wake = asyncio.Event()
        self._stopping = False
        self._locks: dict[str, asyncio.Lock] = {}
        self.builds = 0
        self.rounds = 0

    def changed(self, user_id: str) -> None:
        """The user's database was written: look at it in the next round."""
        if self._owns(user_id):
            self._due[user_id] = min(self._due.get(user_id, math.inf), time.monotonic())

    def want(self, user_id: str) -> None:
        """Check this user's snapshot now rather than at the next round."""
        if user_id not in self._wanted:
            self._wanted.append(user_id)
        self._wake.set()

    async def build(self, user_id: str) -> Snapshot:
        """Build and store a snapshot of the user's database now; return the current one."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            return await self._build(user_id)

    async def refresh(self, user_id: str) -> Snapshot | None:
        """Build when the policy asks for it; return the snapshot that is current afterwards."""
        db = self.dbs.rep(user_id)
        self._due.pop(user_id, None)
        try:
            info = await self.couch.db_info(db)
        except CouchNotFound:
            return None
        current = await self.store.current(user_id)
        db_seq, now = seq_number(info.get("update_seq", 0)), time.time()
        reason = reason_to_build(
            current.seq_number if current else None,
            current.built_at if current else None,
            db_seq,
            int(info.get("doc_count", 0)),
            now,
            self.policy,
        )
        if reason is None:
            if current is not None and db_seq > current.seq_number:
                # changed, not enough to rebuild yet: look again when it is old enough
                wait = current.built_at + self.policy.max_age_s - now
                self._due.setdefault(user_id, time.monotonic() + max(0.0, wait))
            return current
        log.info("snapshot_build", user_id=user_id, reason=reason)
        return await self.build(user_id)

    async def _build(self, user_id: str) -> Snapshot:
        db = self.dbs.rep(user_id)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="fieldsync-snapshot-", dir=self.scratch_dir) as tmp:
            path = Path(tmp) / "dump.ndjson.gz"
            with path.open("wb") as out:
                writer = DumpWriter(out)
                result = await write_dump(self.couch, db, writer)
                sha = writer.close()
            meta = Snapshot(
                user_id=user_id,
                db=db,
                seq=result.seq,
                seq_number=seq_number(result.seq),
                built_at=time.time(),
                leaves=result.leaves,
                doc_count=result.doc_count,
                gz_bytes=writer.gz_bytes,
                raw_bytes=writer.raw_bytes,
                sha256=sha,
                attachment=f"{sha[:32]}.ndjson.gz",
            )
            stored = await self.store.save(user_id, path, meta)
        self.builds += 1
        log.info(
            "snapshot_built",
            user_id=user_id,
            leaves=meta.leaves,
            gz_bytes=meta.gz_bytes,
            raw_bytes=meta.raw_bytes,
            seq=str(meta.seq)[:24],
            seconds=round(time.perf_counter() - started, 2),
        )
        return stored

    async def run(self) -> None:
        """Rounds until :meth:`stop`; a failed build is logged and tried again next round."""
        for user_id in await self._field_users():
            self.changed(user_id)  # the start: every user once
        while not self._stopping:
            now = time.monotonic()
            due = sorted((t, u) for u, t in self._due.items() if t <= now)
            self._wanted.extend(u for _, u in due if u not in self._wanted)
            while self._wanted and not self._stopping:
                user_id = self._wanted.pop(0)
                try:
                    await self.refresh(user_id)
                except CouchError as exc:
                    log.warning("snapshot_build_failed", user_id=user_id, error=str(exc))
                    self._due[user_id] = time.monotonic() + self.check_s
            self.rounds += 1
            self._wake.clear()
            # a round finds what changed() noted since (no request when nothing is due)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.check_s)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _field_users(self) -> list[str]:
        try:
            names = await self.couch.all_dbs()
        except CouchError as exc:
            log.warning("snapshot_scan_failed", error=str(exc))
            return []
        return [u for u in (self.dbs.user_of(db) for db in names) if u is not None]
