"""Read-only lists of master data for the console and integrations (manager, back office, admin).

GET /api/v1/accounts?territory_id=&q=&limit=   accounts, by name; ``territory_id=none``: in no
                                               territory; ``q``: case-insensitive substring of
                                               the name, id or address
GET /api/v1/products?q=&limit=                 products, by SKU; ``q`` matches SKU or name

Each answers ``{"items": [...], "total": n}``: ``total`` counts every match, ``items`` the first
``limit`` of them. Both read fs_master by ``_all_docs`` key range (no view to deploy).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, require_roles
from ..services.documents import full_id, scan

router = APIRouter(prefix="/api/v1", tags=["master data"])

Readers = Annotated[Principal, Depends(require_roles("manager", "backoffice", "admin"))]
Limit = Annotated[int, Query(ge=1, le=5_000)]
Search = Annotated[str | None, Query(max_length=200, description="substring, any case")]


class ListOut(BaseModel):
    items: list[dict[str, Any]]
    total: int


def _matches(q: str | None, *fields: Any) -> bool:
    if not q:
        return True
    needle = q.casefold()
    return any(isinstance(f, str) and needle in f.casefold() for f in fields)


@router.get("/accounts")
async def list_accounts(
    _: Readers,
    rt: RuntimeDep,
    territory_id: Annotated[str | None, Query(max_length=200, examples=["north"])] = None,
    q: Search = None,
    limit: Limit = 1_000,
) -> ListOut:
    """Accounts with their territory and location, sorted by name."""
    wanted: str | None = None
    if territory_id and territory_id != "none":
        wanted = full_id("territory", territory_id)
    found = []
    async for doc in scan(rt.couch, rt.dbs.master, "account"):
        if territory_id == "none" and doc.get("territory_id"):
            continue
        if wanted is not None and doc.get("territory_id") != wanted:
            continue
        if _matches(q, doc.get("name"), doc["_id"], doc.get("address")):
            found.append(doc)
    found.sort(key=lambda d: (str(d.get("name", "")).casefold(), d["_id"]))
    return ListOut(items=found[:limit], total=len(found))


@router.get("/products")
async def list_products(
    _: Readers, rt: RuntimeDep, q: Search = None, limit: Limit = 100
) -> ListOut:
    """Products, sorted by SKU."""
    found = [
        doc
        async for doc in scan(rt.couch, rt.dbs.master, "product")
        if _matches(q, doc.get("sku"), doc.get("name"))
    ]
    found.sort(key=lambda d: str(d.get("sku", "")))
    return ListOut(items=found[:limit], total=len(found))
