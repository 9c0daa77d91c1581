"""What the notifications package needs from a CouchDB client, as a structural Protocol.

``notifications`` imports nothing from ``sync_gateway``: the composition root passes in the
shared client (``sync_gateway.couch.CouchClient`` satisfies :class:`DocStore` as it is). Bodies are
CouchDB's JSON documents as plain dicts. Views, design documents and read-modify-write come from
the store too (the client's ``view``, ``ensure_design``, ``update_with_retry``: the one
implementation, ``sync_gateway/couch/blocks.py``), so none of them is written again here.

Errors are recognised by shape, not by class: the client's HTTP errors carry ``status`` (404 not
found, 409 conflict, also when ``update_with_retry`` ran out of attempts); anything without a
status is a transport failure the caller lets propagate.
``_bulk_docs`` answers per document; a row ``{"id", "error": "conflict"}`` means someone else
wrote that document first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

Doc = dict[str, Any]
Mutate = Callable[[Doc | None], Doc | Awaitable[Doc | None] | None]


class Updated(Protocol):
    """What ``update_with_retry`` answers: the document as stored, and whether it was written."""

    @property
    def doc(self) -> Doc | None: ...

    @property
    def written(self) -> bool: ...


class DocStore(Protocol):
    """The subset of the CouchDB client used here (see ``sync_gateway/couch/client.py``)."""

    async def get(self, db: str, doc_id: str, **params: Any) -> dict[str, Any]: ...

    async def put(self, db: str, doc: Mapping[str, Any], **params: Any) -> dict[str, Any]: ...

    async def all_docs(
        self, db: str, *, keys: Sequence[str] | None = None, **params: Any
    ) -> dict[str, Any]: ...

    async def bulk_docs(
        self, db: str, docs: Sequence[Mapping[str, Any]], *, new_edits: bool = True
    ) -> list[dict[str, Any]]: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any: ...

    async def view(
        self, db: str, ddoc_id: str, name: str, *, keys: Sequence[Any] | None = None, **params: Any
    ) -> list[dict[str, Any]]: ...

    async def ensure_design(
        self,
        db: str,
        ddoc_id: str,
        views: Mapping[str, str | Mapping[str, str]],
        *,
        version: int | None = None,
    ) -> bool: ...

    async def update_with_retry(
        self, db: str, doc_id: str, mutate: Mutate, *, attempts: int = ...
    ) -> Updated: ...


# The highest character CouchDB's collation puts after every id we use, for prefix ranges.
HIGH = "\ufff0"


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error of the store carries, or None (transport failure, bug)."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def is_not_found(exc: BaseException) -> bool:
    return status_of(exc) == 404


def is_conflict(exc: BaseException) -> bool:
    return status_of(exc) == 409


async def get_or_none(store: DocStore, db: str, doc_id: str) -> dict[str, Any] | None:
    """The document, or None when it (or its database) does not exist."""
    try:
        return await store.get(db, doc_id)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


async def docs_with_prefix(
    store: DocStore, db: str, prefix: str, *, page: int = 500
) -> list[dict[str, Any]]:
    """Every live document whose id starts with ``prefix``, read in pages of ``page`` rows."""
    out: list[dict[str, Any]] = []
    startkey = prefix
    skip = 0
    while True:
        answer = await store.all_docs(
            db,
            startkey=startkey,
            endkey=prefix + HIGH,
            include_docs=True,
            limit=page,
            skip=skip,
        )
        rows = answer.get("rows", [])
        out.extend(row["doc"] for row in rows if row.get("doc"))
        if len(rows) < page:
            return out
        # Resume after the last id: skip=1 steps over it (CouchDB's recommended paging).
        startkey, skip = rows[-1]["id"], 1


async def view(
    store: DocStore, db: str, ddoc: str, name: str, **params: Any
) -> list[dict[str, Any]]:
    """The rows of ``_design/<ddoc>/_view/<name>``; parameters as CouchDB takes them."""
    return await store.view(db, f"_design/{ddoc}", name, **params)


async def ensure_design(store: DocStore, db: str, ddoc_id: str, views: Mapping[str, str]) -> None:
    """Create or update a design document holding ``views`` (name -> JS map function); safe
    when several processes start at once."""
    await store.ensure_design(db, ddoc_id, views)
