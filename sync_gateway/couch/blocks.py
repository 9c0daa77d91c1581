"""CouchDB building blocks on top of the client: the one copy of each, used everywhere.

- :func:`update_with_retry` — read, change, write one document; on a 409 (someone wrote it in
  between) read the new revision and change that, at most ``attempts`` rounds, then raise
  :class:`~.errors.CouchConflictExhausted` (a 409: ``/api`` says "reload and send again").
  ``mutate(current)`` gets the document as read this round (None when missing or deleted),
  changes it in place or builds a new body, and returns what to write, or None to write
  nothing. It may be async and may raise to abort. The write carries the revision read this
  round, unless the body returned has a ``_rev`` of its own: a ``mutate`` that wrote to the
  document itself (an attachment) returns the revision that made; a 409 from such a write
  also starts the round again. Deleting is writing ``{"_deleted": True}``.
- :func:`update_many_with_retry` — the same for many documents in one ``_all_docs`` and one
  ``_bulk_docs`` per round; only the documents CouchDB refused with ``conflict`` go round
  again. It answers per document, in CouchDB's own form, and never raises for one document::

      {"id", "ok": true, "rev"}                       written
      {"id", "ok": true, "rev", "unchanged": true}    change returned None (rev: the current)
      {"id", "error", "reason"}                       refused (``conflict`` after every round)

- :func:`ensure_design` — make ``_design/<x>`` hold exactly the given views; idempotent, writes
  only when they differ, and safe when processes race (through :func:`update_with_retry`: the
  loser reads the winner's and finds it done). With a ``version``, a design document of a
  higher version (a newer process of a rolling deploy) is left alone.
- :class:`CheckpointStore` — where a follower stopped reading a feed, as ``_local`` documents
  (in no ``_changes``, ``_all_docs`` or replication)::

      <db>/_local/<prefix><name>   {<name_field>: <name>, "seq": <last seq>, "updated_at"}

  The revision is cached, so a save is one PUT; a 409 (another process, or an earlier run,
  wrote it) re-reads it and writes ours over it, through :func:`update_with_retry`.

View queries are the client's :meth:`~.client.CouchClient.view`. Packages that take their store
as a Protocol (``notifications``) reach these through the client's methods of the same names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mobile_schema import utc_now

from .errors import CouchConflict, CouchConflictExhausted, CouchNotFound

if TYPE_CHECKING:
    from .client import CouchClient

Doc = dict[str, Any]
Mutate = Callable[[Doc | None], Doc | Awaitable[Doc | None] | None]
Change = Callable[[str, Doc | None], Doc | Awaitable[Doc | None] | None]
Views = Mapping[str, str | Mapping[str, str]]

UPDATE_ATTEMPTS = 10
BULK_ATTEMPTS = 5
CHECKPOINT_ATTEMPTS = 5


@dataclass(frozen=True)
class Updated:
    """What :func:`update_with_retry` left: the document as stored now (with its new ``_rev``
    when written; None when there is none) and whether this call wrote it (``created``: into
    a document that did not exist)."""

    doc: Doc | None
    written: bool
    created: bool = False


async def _settled(value: Doc | Awaitable[Doc | None] | None) -> Doc | None:
    """A callback's answer, awaited when the callback was async."""
    if isinstance(value, Awaitable):
        return await value
    return value


async def update_with_retry(
    couch: CouchClient, db: str, doc_id: str, mutate: Mutate, *, attempts: int = UPDATE_ATTEMPTS
) -> Updated:
    """Read-modify-write ``doc_id`` until it sticks; see the module docstring."""
    for _ in range(attempts):
        current = await couch.get_or_none(db, doc_id)
        rev = current["_rev"] if current is not None else None
        try:
            wanted = await _settled(mutate(current))
            if wanted is None:
                return Updated(current, written=False)
            body = {**wanted, "_id": doc_id}
            if "_rev" not in body and rev is not None:
                body["_rev"] = rev
            result = await couch.put(db, body)
        except CouchConflictExhausted:
            raise
        except CouchConflict:
            continue  # written by someone else meanwhile: change their revision instead
        body["_rev"] = result["rev"]
        return Updated(body, written=True, created=current is None)
    raise CouchConflictExhausted(db, doc_id, attempts)


async def read_docs(couch: CouchClient, db: str, ids: Sequence[str]) -> dict[str, Doc | None]:
    """The current winning body of each id (None when missing or deleted), in one request."""
    if not ids:
        return {}
    result = await couch.all_docs(db, keys=list(ids), include_docs=True)
    found: dict[str, Doc | None] = dict.fromkeys(ids)
    for row in result["rows"]:
        doc = row.get("doc")
        if "error" not in row and isinstance(doc, dict) and not doc.get("_deleted"):
            found[row["key"]] = doc
    return found


async def update_many_with_retry(
    couch: CouchClient,
    db: str,
    ids: Iterable[str],
    change: Change,
    *,
    attempts: int = BULK_ATTEMPTS,
) -> dict[str, Doc]:
    """Apply ``change(doc_id, current)`` to each id and write; one row per id (module doc)."""
    pending = list(dict.fromkeys(ids))
    results: dict[str, Doc] = {}
    for _ in range(attempts):
        if not pending:
            break
        current = await read_docs(couch, db, pending)
        batch: list[Doc] = []
        for doc_id in pending:
            before = current[doc_id]
            after = await _settled(change(doc_id, before))
            if after is None:
                rev = before["_rev"] if before else None
                results[doc_id] = {"id": doc_id, "ok": True, "rev": rev, "unchanged": True}
                continue
            after = {k: v for k, v in after.items() if k != "_rev"}
            after["_id"] = doc_id
            if before is not None:
                after["_rev"] = before["_rev"]
            batch.append(after)
        pending = []
        if not batch:
            break
        for row in await couch.bulk_docs(db, batch):
            if row.get("error") == "conflict":
                pending.append(row["id"])
            elif "error" in row:
                results[row["id"]] = {
                    "id": row["id"],
                    "error": str(row["error"]),
                    "reason": str(row.get("reason", "")),
                }
            else:
                results[row["id"]] = {"id": row["id"], "ok": True, "rev": row["rev"]}
    for doc_id in pending:
        results[doc_id] = {
            "id": doc_id,
            "error": "conflict",
            "reason": f"changed by someone else {attempts} times while being written; "
            "send it again",
        }
    return results


def design_body(views: Views, version: int | None = None) -> Doc:
    """The fields of a design document holding ``views`` (name -> map source, or
    ``{"map", "reduce"}``)."""
    body: Doc = {
        "language": "javascript",
        "views": {
            name: {"map": view} if isinstance(view, str) else dict(view)
            for name, view in views.items()
        },
    }
    if version is not None:
        body["version"] = version
    return body


async def ensure_design(
    couch: CouchClient, db: str, ddoc_id: str, views: Views, *, version: int | None = None
) -> bool:
    """Make ``db/<ddoc_id>`` hold ``views``; True when this call wrote it."""
    if not ddoc_id.startswith("_design/"):
        raise ValueError(f"a design document id starts with _design/, not {ddoc_id!r}")
    wanted = design_body(views, version)

    def mutate(current: Doc | None) -> Doc | None:
        if current is not None:
            theirs = current.get("version")
            if version is not None and isinstance(theirs, int) and theirs > version:
                return None  # installed by a newer release: its views, not ours
            if all(current.get(k) == v for k, v in wanted.items()):
                return None
        return dict(wanted)

    return (await update_with_retry(couch, db, ddoc_id, mutate)).written


class CheckpointStore:
    """Checkpoints of feed followers in one database; see the module docstring."""

    def __init__(
        self,
        couch: CouchClient,
        db: str,
        *,
        prefix: str = "",
        name_field: str | None = None,
        attempts: int = CHECKPOINT_ATTEMPTS,
    ) -> None:
        self.couch = couch
        self.db = db
        self.prefix = prefix
        self.name_field = name_field
        self.attempts = attempts
        self._revs: dict[str, str] = {}

    def doc_id(self, name: str) -> str:
        return f"_local/{self.prefix}{name}"

    async def load(self, name: str) -> Any:
        """The sequence to resume from: the saved one, or 0."""
        doc = await self.couch.get_or_none(self.db, self.doc_id(name))
        if doc is None:
            self._revs.pop(name, None)
            return 0
        self._revs[name] = doc["_rev"]
        return doc.get("seq", 0)

    async def save(self, name: str, seq: Any) -> None:
        """Store ``seq``; raises :class:`CouchConflictExhausted` only when others keep writing."""
        body: Doc = {"seq": seq, "updated_at": utc_now()}
        if self.name_field is not None:
            body = {self.name_field: name, **body}
        doc_id = self.doc_id(name)
        rev = self._revs.get(name)
        try:
            # the cached revision: one request when nobody else wrote it since
            result = await self.couch.put(
                self.db, {**body, "_id": doc_id, **({"_rev": rev} if rev else {})}
            )
            self._revs[name] = result["rev"]
            return
        except CouchConflict:
            pass
        # Another process (or an earlier run of ours) moved it: ours is the newer position.
        updated = await update_with_retry(
            self.couch, self.db, doc_id, lambda _current: dict(body), attempts=self.attempts
        )
        assert updated.doc is not None  # written, or update_with_retry raised
        self._revs[name] = updated.doc["_rev"]

    async def forget(self, name: str) -> None:
        """Drop a checkpoint (its database was deleted; a new one starts from 0)."""
        self._revs.pop(name, None)
        doc = await self.couch.get_or_none(self.db, self.doc_id(name))
        if doc is not None:
            try:
                await self.couch.delete(self.db, self.doc_id(name), doc["_rev"])
            except CouchNotFound:
                pass
