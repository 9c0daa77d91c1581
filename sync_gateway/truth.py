"""What the server knows about the documents of one pushed batch: the shared truth.

A device's write is judged against what the server holds, never only against the history the
device sends (access.py states the rules). For the documents of one ``_bulk_docs`` (or one
``PUT``) :func:`read_truth` reads, each step one request per database and batch, never one per
document:

    1. ``_all_docs?keys=..&include_docs=true`` on the user's database (every id, plus the ids
       the rules reference), on fs_orders (order ids) and on fs_field (visit, visit note, work
       order ids), all at once: the current winner of each document in each database;
    2. ``_revs_diff`` on the databases holding a document whose pushed history does not start
       at one of those winners (an offline edit of an older revision, several offline edits,
       or a crafted history): which of its newest ``MAX_ANCESTORS`` ancestors they know;
    3. ``_bulk_get`` of the newest known ancestors that are not winners (their bodies).

A usual push (new documents, edits of the current revision) costs the reads of step 1 only.

The *home* of a document is the shared database its type lives in (``router.rules.HOME_DB``);
its *current* revision is the winner there when the home has ever seen the id (live or
deleted), else the winner in the user's database, else there is none (a new document).
:meth:`Truth.standing` gives per document what access.py needs: the revision it is judged
against (``parent``), the current revision, whether the document is deleted, and how far the
server's revision tree reaches (``known_generation``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mobile_schema import doc_type_of

from .couch import CouchClient
from .databases import Databases
from .router.rules import FAN_IN_OWNER_FIELD, HOME_DB

MAX_ANCESTORS = 100  # newest ancestors of a pushed revision looked up (_revs_diff)


def generation(rev: str) -> int:
    return int(rev.split("-", 1)[0])


def ancestors(doc: Mapping[str, Any], *, new_edits: bool) -> list[str]:
    """The revisions the pushed document claims to descend from, newest first."""
    rev = doc.get("_rev")
    if new_edits:
        return [rev] if isinstance(rev, str) else []
    revisions = doc.get("_revisions")
    if not isinstance(revisions, Mapping):
        return []  # CouchDB stores such a revision as a root of its own
    start, ids = revisions["start"], revisions["ids"]
    return [f"{start - i}-{h}" for i, h in enumerate(ids)][1:]


def pushed_generation(doc: Mapping[str, Any], *, new_edits: bool) -> int:
    """The generation the revision stored for ``doc`` will have."""
    rev = doc.get("_rev")
    if not isinstance(rev, str):
        return 1
    return generation(rev) + 1 if new_edits else generation(rev)


def home_of(dbs: Databases, doc_id: str) -> str | None:
    """The shared database a device-writable document lives in (None: the user's db only)."""
    kind = doc_type_of(doc_id)
    if kind is None or kind not in FAN_IN_OWNER_FIELD:
        return None
    return {"orders": dbs.orders, "field": dbs.field}.get(HOME_DB[kind])


@dataclass(frozen=True)
class Winner:
    """A document's winning revision in one database (``doc`` is None when deleted)."""

    rev: str
    deleted: bool
    doc: Mapping[str, Any] | None


@dataclass(frozen=True)
class Standing:
    """What one pushed document is judged against (access.py)."""

    parent: Mapping[str, Any] | None  # newest known revision of its history, else the current
    parent_is_current: bool
    current: Mapping[str, Any] | None  # the current live revision (home, else user's db)
    deleted: bool  # deleted at home or in the user's database
    descends: bool  # its history reaches a revision the server knows
    known_generation: int  # generation of ``parent`` (0 for a new document)


@dataclass
class Truth:
    """The reads of one batch (see the module docstring)."""

    user_db: str
    winners: dict[tuple[str, str], Winner] = field(default_factory=dict)  # (db, id)
    homes: dict[str, str] = field(default_factory=dict)  # id -> home db (device types)
    known: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (db, newest rev)
    bodies: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)  # (id, rev)
    visible: frozenset[str] = frozenset()  # live ids of the user's database

    def current_db(self, doc_id: str) -> str | None:
        home = self.homes.get(doc_id)
        if home is not None and (home, doc_id) in self.winners:
            return home
        return self.user_db if (self.user_db, doc_id) in self.winners else None

    def standing(self, doc_id: str) -> Standing:
        db = self.current_db(doc_id)
        winner = self.winners.get((db, doc_id)) if db is not None else None
        mine = self.winners.get((self.user_db, doc_id))
        deleted = (winner is not None and winner.deleted) or (mine is not None and mine.deleted)
        current = winner.doc if winner is not None and not winner.deleted else None
        found = self.known.get(doc_id)
        body = self.bodies.get((doc_id, found[1])) if found is not None else None
        if found is not None and body is not None:
            is_current = current is not None and body.get("_rev") == current.get("_rev")
            return Standing(body, is_current, current, deleted, True, generation(found[1]))
        # no known ancestor (or its body is compacted away): judged against the current winner
        reach = generation(found[1]) if found is not None else 0
        if winner is not None:
            reach = max(reach, generation(winner.rev))
        return Standing(current, current is not None, current, deleted, found is not None, reach)


async def read_truth(
    couch: CouchClient,
    dbs: Databases,
    user_db: str,
    docs: Sequence[tuple[Mapping[str, Any], Sequence[str]]],
    references: Iterable[str] = (),
) -> Truth:
    """Read what the server knows of ``docs`` (each with its :func:`ancestors`)."""
    truth = Truth(user_db)
    ids = {d["_id"] for d, _ in docs}
    truth.homes = {i: h for i in ids if (h := home_of(dbs, i)) is not None}
    wanted: dict[str, set[str]] = {user_db: ids | set(references)}
    for doc_id, home in truth.homes.items():
        wanted.setdefault(home, set()).add(doc_id)
    visible: set[str] = set()

    async def winners_in(db: str, keys: set[str]) -> None:
        # not _bulk_get of bare ids (twice as fast on PouchDB Server): it answers {} there for a
        # deleted id and a missing one alike, and a deletion must be known (rule 4)
        rows = (await couch.all_docs(db, keys=sorted(keys), include_docs=True))["rows"]
        for row in rows:
            value = row.get("value")
            if "error" in row or not isinstance(value, Mapping):
                continue
            deleted = bool(value.get("deleted"))
            doc = row.get("doc") if not deleted else None
            truth.winners[(db, row["id"])] = Winner(value["rev"], deleted, doc)
            if db == user_db and doc is not None:
                visible.add(row["id"])

    await asyncio.gather(*(winners_in(db, keys) for db, keys in wanted.items() if keys))
    truth.visible = frozenset(visible)

    # the newest ancestor a database knows; the common case (an edit of a winner) needs no read
    diffs: dict[str, dict[str, list[str]]] = {}
    for doc, history in docs:
        if not history:
            continue
        doc_id = doc["_id"]
        places = [truth.homes[doc_id]] if doc_id in truth.homes else []
        holders = [db for db in [*places, user_db] if (db, doc_id) in truth.winners]
        quick = [db for db in holders if truth.winners[(db, doc_id)].rev == history[0]]
        if quick:
            truth.known[doc_id] = (quick[0], history[0])
            continue
        for db in holders:
            diffs.setdefault(db, {})[doc_id] = list(history[:MAX_ANCESTORS])

    async def known_in(db: str, asked: dict[str, list[str]]) -> dict[str, set[str]]:
        answer = await couch.revs_diff(db, asked)
        return {
            i: set(revs) - set((answer.get(i) or {}).get("missing") or ())
            for i, revs in asked.items()
        }

    found = await asyncio.gather(*(known_in(db, asked) for db, asked in diffs.items()))
    by_db = dict(zip(diffs, found, strict=True))
    for doc, history in docs:
        doc_id = doc["_id"]
        if doc_id in truth.known or not history:
            continue
        for rev in history[:MAX_ANCESTORS]:
            holder = next((db for db, k in by_db.items() if rev in k.get(doc_id, ())), None)
            if holder is not None:
                truth.known[doc_id] = (holder, rev)
                break

    # bodies of the known ancestors: winners are in hand, the others are read
    fetch: dict[str, list[dict[str, str]]] = {}
    for doc_id, (db, rev) in truth.known.items():
        winner = truth.winners.get((db, doc_id))
        if winner is not None and winner.rev == rev and winner.doc is not None:
            truth.bodies[(doc_id, rev)] = winner.doc
        elif winner is not None and winner.rev == rev and winner.deleted:
            truth.bodies[(doc_id, rev)] = {"_id": doc_id, "_rev": rev, "_deleted": True}
        else:
            fetch.setdefault(db, []).append({"id": doc_id, "rev": rev})

    async def bodies_in(db: str, items: list[dict[str, str]]) -> None:
        for result in await couch.bulk_get(db, items, revs=False):
            for entry in result.get("docs", []):
                body = entry.get("ok")
                # a revision whose body was compacted away may come back as a bare stub
                if isinstance(body, Mapping) and ("type" in body or body.get("_deleted")):
                    truth.bodies[(body["_id"], body["_rev"])] = body

    await asyncio.gather(*(bodies_in(db, items) for db, items in fetch.items()))
    return truth
