"""The storage the resolver needs, as a Protocol (implemented by the CouchDB client's owner).

The resolver reads the leaves of a conflicted document, the common ancestor when the store still
has its body, and writes the plan of :mod:`conflict.plan` in one request. Errors of an
implementation are its own; "not found" on :meth:`get_ancestor` is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class ConflictStore(Protocol):
    async def get_leaves(self, db: str, doc_id: str) -> list[dict[str, Any]]:
        """Every leaf of ``doc_id``: ``GET /{db}/{doc_id}?open_revs=all&revs=true`` bodies
        (the ``ok`` entries), deleted leaves included."""
        ...

    async def get_ancestor(
        self, db: str, doc_id: str, rev: str, leaf_revs: Sequence[str]
    ) -> dict[str, Any] | None:
        """The body of revision ``rev``, an ancestor of the leaves ``leaf_revs``: from ``db``
        (``?rev=``), else from where the store knows the leaves came from (a shared database
        that was only ever sent the later revisions); None when no copy has it any more."""
        ...

    async def get_attachment(self, db: str, doc_id: str, name: str, rev: str) -> bytes:
        """The data of attachment ``name`` as of revision ``rev``."""
        ...

    async def bulk_docs_new_edits_false(
        self, db: str, docs: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``POST /{db}/_bulk_docs`` with ``new_edits: false``; CouchDB's per-doc answers."""
        ...
