"""The server's ``uuid``: one per deployment, stable across restarts and gateway processes.

PouchDB names a replication's checkpoint after ``uuid + database name`` (from ``GET /sync/``),
so the checkpoint a primed device writes (``pouchdb-load``'s ``proxy`` option) is found by its
next replication only when every gateway answers the same uuid. It is kept in ``fs_ops`` as
``server:identity``: the first process to start creates it, the others read it (a creation race
ends in a 409 and a read of the winner's; a document without a uuid is replaced).
"""

from __future__ import annotations

import uuid
from typing import Any

from .couch import CouchClient, update_with_retry
from .databases import Databases

SERVER_DOC_ID = "server:identity"


async def server_uuid(couch: CouchClient, dbs: Databases) -> str:
    """Read the deployment's uuid, creating it on first use."""

    def create(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is not None and isinstance(doc.get("uuid"), str):
            return None
        return {"type": "server_identity", "uuid": uuid.uuid4().hex}

    updated = await update_with_retry(couch, dbs.ops, SERVER_DOC_ID, create, attempts=3)
    assert updated.doc is not None  # read or written
    value: str = updated.doc["uuid"]
    return value
