"""Where the router stopped reading each source database: ``_local`` documents in fs_ops.

One document per source database (fs_master, fs_orders, fs_field and every rep_<id>)::

    fs_ops/_local/router-checkpoint:<source db>
      {"source": "<source db>", "seq": <last_seq the router finished>, "updated_at": "<UTC>"}

``_local`` documents are kept by CouchDB like any other but appear in no ``_changes`` feed, no
``_all_docs`` and no replication: the router writes one after every batch, and thousands of
rep databases would otherwise flood fs_ops's feed, which other workers follow. A checkpoint is
written only after everything its batch implied has been written, so a restart resumes from it
and at most repeats the last batch, which is harmless (copies are checked with ``_revs_diff``
and written with ``new_edits=false``; the router's tombstones have deterministic revision ids).
"""

from __future__ import annotations

from ..couch import CouchClient
from ..couch.blocks import CheckpointStore

PREFIX = "router-checkpoint:"


class Checkpoints(CheckpointStore):
    """The router's checkpoints in one database (fs_ops): ``load``, ``save``, ``forget`` by
    source database name (the building block of ``couch/blocks.py``)."""

    def __init__(self, couch: CouchClient, db: str) -> None:
        super().__init__(couch, db, prefix=PREFIX, name_field="source")
