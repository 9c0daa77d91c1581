"""Design documents (map/reduce views) the API and its workers create at start-up.

``ensure_design(couch, db, design_id, body)`` makes ``db/<design_id>`` hold exactly ``body``'s
fields (``language``, ``views``), writing only when they differ, so starting many processes at
once is harmless (a CouchDB 409 means another one wrote it: compare again). Design documents
never reach a device: the router skips ``_design/`` ids and the gateway hides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_gateway.couch import CouchClient, CouchConflict
from sync_gateway.couch.client import doc_path


async def ensure_design(
    couch: CouchClient, db: str, design_id: str, body: Mapping[str, Any]
) -> None:
    """Create or update ``design_id`` in ``db`` when its content differs from ``body``."""
    for _ in range(5):
        current = await couch.get_or_none(db, design_id)
        if current is not None and all(current.get(k) == v for k, v in body.items()):
            return
        doc = {**body, "_id": design_id}
        if current is not None:
            doc["_rev"] = current["_rev"]
        try:
            await couch.put(db, doc)
            return
        except CouchConflict:
            continue


async def query_view(
    couch: CouchClient, db: str, design_id: str, view: str, **params: Any
) -> list[dict[str, Any]]:
    """The ``rows`` of one view query (params as CouchDB takes them: keys as JSON)."""
    result = await couch.request("GET", f"{doc_path(db, design_id)}/_view/{view}", params=params)
    rows: list[dict[str, Any]] = result["rows"]
    return rows
