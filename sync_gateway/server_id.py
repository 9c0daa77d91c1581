"""The server's ``uuid``: one per deployment, stable across restarts and gateway processes.

PouchDB names a replication's checkpoint after ``uuid + database name`` (from ``GET /sync/``),
so the checkpoint a primed device writes (``pouchdb-load``'s ``proxy`` option) is found by its
next replication only when every gateway answers the same uuid. It is kept in ``fs_ops`` as
``server:identity``: the first process to start creates it, the others read it (a creation race
ends in a 409 and a read of the winner's).
"""

from __future__ import annotations

import uuid

from .couch import CouchClient, CouchConflict
from .databases import Databases

SERVER_DOC_ID = "server:identity"


async def server_uuid(couch: CouchClient, dbs: Databases) -> str:
    """Read the deployment's uuid, creating it on first use."""
    for _ in range(3):
        doc = await couch.get_or_none(dbs.ops, SERVER_DOC_ID)
        if doc is not None and isinstance(doc.get("uuid"), str):
            value: str = doc["uuid"]
            return value
        try:
            await couch.put(
                dbs.ops, {"_id": SERVER_DOC_ID, "type": "server_identity", "uuid": uuid.uuid4().hex}
            )
        except CouchConflict:
            continue
    raise RuntimeError("could not read or create the server uuid in fs_ops")
