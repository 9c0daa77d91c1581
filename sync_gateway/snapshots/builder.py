"""The snapshot builder: keeps every field user's snapshot fresh, in the background.

Every ``check_s`` it reads ``_all_dbs`` and each rep database's info, and builds the snapshots
:func:`policy.reason_to_build` asks for, one at a time (a build reads the whole database: one at a
time keeps CouchDB free for the phones). :meth:`SnapshotBuilder.want` (the gateway, when a phone
asked for a missing or stale snapshot) puts a user at the front without waiting for the next round.
A build writes the dump to a temporary file (memory stays flat however big the database) and
stores it with :class:`store.SnapshotStore`; the file is removed afterwards.

It runs where the other workers run (``fieldsync serve`` or ``fieldsync worker``). Several
builders at once are harmless (the store keeps the newer snapshot), only wasteful.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
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
        scratch_dir: Path | None = None,
    ) -> None:
        self.couch = couch
        self.dbs = dbs
        self.policy = policy
        self.store = SnapshotStore(couch, dbs)
        self.check_s = check_s
        self.scratch_dir = scratch_dir
        self._wanted: list[str] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._locks: dict[str, asyncio.Lock] = {}
        self.builds = 0

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
        try:
            info = await self.couch.db_info(db)
        except CouchNotFound:
            return None
        current = await self.store.current(user_id)
        reason = reason_to_build(
            current.seq_number if current else None,
            current.built_at if current else None,
            seq_number(info.get("update_seq", 0)),
            int(info.get("doc_count", 0)),
            time.time(),
            self.policy,
        )
        if reason is None:
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
        next_round = 0.0
        while not self._stopping:
            if time.monotonic() >= next_round:
                self._wanted.extend(u for u in await self._field_users() if u not in self._wanted)
                next_round = time.monotonic() + self.check_s
            while self._wanted and not self._stopping:
                user_id = self._wanted.pop(0)
                try:
                    await self.refresh(user_id)
                except CouchError as exc:
                    log.warning("snapshot_build_failed", user_id=user_id, error=str(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_round - time.monotonic()))

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
