"""What the router remembers between requests: one object per database, kept in one place.

    RouterState
     ├── index     Assignments: who may see what (rebuilt whole when ``router-shared`` is taken)
     ├── shared    {db: SharedFeed}, one per shared database (fs_master, fs_field, fs_orders)
     │     seq       the last sequence of its feed finished (checkpointed by the fan-out's owner)
     │     lock      one drain of the feed at a time (and none while the index is rebuilt)
     │     pending   what an interrupted page computed (copy plan, delta, deletions), kept until
     │               it is applied: on a retry the index already holds the change
     │     echoes    {doc id: (rev, user id)}: revisions the fan-in just carried in from that
     │               user's database, until this feed shows them (the fan-out skips that user)
     └── reps      {user id: RepDb}, one per field user's database the router follows
           db          ``rep_<user id>``
           seq         the last sequence of its feed finished; ``loaded`` once read from the
                       checkpoint (on the first drain after this worker took the user)
           saved_at    when that sequence was last checkpointed or read from the checkpoint
                       (loop time)
           copied      {doc id: rev}: revisions the router itself writes there, until its feed
                       shows them (that row is the router's echo, not a device's write: the
                       fan-in passes it by, and discovery starts no drain for it)
           drain_lock  one drain of its feed at a time
           write_lock  the router's writes into it one at a time, so a copy and a tombstone of
                       one document cannot overtake each other

A user's database is followed from :meth:`RouterState.add_rep` to :meth:`RouterState.drop_rep`,
which removes the :class:`RepDb` and every entry naming the user in the shared feeds' echo
memos: nothing of a dropped user stays behind here. :meth:`RepDb.release` forgets where its feed
stood (another worker moves it on meanwhile) but keeps the locks, so work in flight finishes
under them. The memos are memos, not records: losing one costs a ``_revs_diff``, never a copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .assignments import Assignments, Delta

MAX_FAN_IN_ECHOES: Final = 100_000  # per shared database; past it the memo starts again

# A page of a shared feed computed but not applied yet: the copies per user and document
# ({user: {doc id: revs}}), the membership delta, and the ids deleted by the page.
Pending = tuple[dict[str, dict[str, list[str]]], Delta, set[str]]


@dataclass(eq=False)
class SharedFeed:
    """The router's state of one shared database's feed (see the module docstring)."""

    db: str
    seq: Any = 0
    pending: Pending | None = None
    echoes: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def remember_echo(self, doc_id: str, rev: str, user_id: str) -> None:
        """The fan-in is about to write ``rev`` of ``doc_id`` here from ``user_id``'s database."""
        if len(self.echoes) > MAX_FAN_IN_ECHOES:
            self.echoes.clear()
        self.echoes[doc_id] = (rev, user_id)

    def take_echo(self, doc_id: str, revs: list[str]) -> str | None:
        """The user whose push a row of this feed only echoes (the document's one leaf is the
        revision the fan-in carried from their database), else None; the memo is used once."""
        carried = self.echoes.pop(doc_id, None) if self.echoes else None
        if carried is None or revs != [carried[0]]:
            return None
        return carried[1]

    def forget_user(self, user_id: str) -> None:
        self.echoes = {k: v for k, v in self.echoes.items() if v[1] != user_id}


@dataclass(eq=False)
class RepDb:
    """The router's state of one field user's database (see the module docstring)."""

    user_id: str
    db: str
    seq: Any = 0
    loaded: bool = False
    saved_at: float = 0.0
    copied: dict[str, str] = field(default_factory=dict)
    drain_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def resume(self, seq: Any, now: float = 0.0) -> None:
        """Continue the feed from ``seq``, the checkpoint read at loop time ``now`` (it is what
        is stored, so a page of echoes need not be checkpointed at once)."""
        self.seq = seq
        self.loaded = True
        self.saved_at = now

    def is_echo(self, row: Mapping[str, Any]) -> bool:
        """Whether a feed row (``style=all_docs``) is only a revision the router copied."""
        mine = self.copied.get(row["id"])
        return mine is not None and [c["rev"] for c in row.get("changes", ())] == [mine]

    def release(self) -> None:
        """Another worker owns the feed now: forget its position and the echo memo."""
        self.seq = 0
        self.loaded = False
        self.saved_at = 0.0
        self.copied.clear()

    def without_echoes(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of this database's feed that are not just a revision the router copied."""
        if not self.copied:
            return rows
        kept = []
        for row in rows:
            if not self.is_echo(row):
                kept.append(row)
            self.copied.pop(row["id"], None)
        return kept


class RouterState:
    """The index, the shared feeds and the followed rep databases (see the module docstring)."""

    def __init__(self, shared: Iterable[str]) -> None:
        self.index = Assignments()
        self.shared: dict[str, SharedFeed] = {db: SharedFeed(db) for db in shared}
        self.reps: dict[str, RepDb] = {}

    def rep(self, user_id: str) -> RepDb | None:
        return self.reps.get(user_id)

    def add_rep(self, user_id: str, db: str) -> RepDb:
        """Follow ``db`` for ``user_id`` (the existing entry when already followed)."""
        rep = self.reps.get(user_id)
        if rep is None:
            rep = self.reps[user_id] = RepDb(user_id, db)
        return rep

    def drop_rep(self, user_id: str) -> RepDb | None:
        """Stop following the user's database: everything kept for it goes (None: not followed)."""
        rep = self.reps.pop(user_id, None)
        for feed in self.shared.values():
            feed.forget_user(user_id)
        return rep

    def clear_pending(self) -> None:
        """No half-applied page is kept (the index is rebuilt, or another worker fans out)."""
        for feed in self.shared.values():
            feed.pending = None
