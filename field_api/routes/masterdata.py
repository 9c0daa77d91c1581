"""Master data for the back office: bulk upserts of the catalog and customers.

PUT /api/v1/products           [product, ...]  -> {"items": [...], "errors": n}
PUT /api/v1/accounts           [account, ...]  (territory_id kept when not sent)
PUT /api/v1/contacts           [contact, ...]
PUT /api/v1/price-lists/{id}   one price list -> 201 created / 200 replaced

Items are mobile_schema documents without ``_rev`` and bookkeeping (see
:mod:`field_api.services.masterdata`); each gets its own result in input order,
``{"id", "ok": true, "rev"}`` or ``{"id", "error", "reason"}``, and the answer is 200 even when
some failed (``errors`` counts them). More than 5,000 items: 413, nothing written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel

from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, require_roles
from ..services import masterdata

router = APIRouter(prefix="/api/v1", tags=["master data"])

BackOffice = Annotated[Principal, Depends(require_roles("backoffice", "admin"))]


class BulkOut(BaseModel):
    items: list[dict[str, Any]]
    errors: int


def _items(example: list[dict[str, Any]]) -> Any:
    return Body(examples=[example], description="documents without _rev; at most 5,000")


Products = Annotated[
    list[dict[str, Any]],
    _items([{"_id": "product:SKU-1", "sku": "SKU-1", "name": "Espresso 1 kg", "unit": "kg"}]),
]
Accounts = Annotated[
    list[dict[str, Any]],
    _items(
        [
            {
                "_id": "account:cafe-nord",
                "name": "Café Nord",
                "address": "1 Main St, Oslo",
                "location": {"lat": 59.91, "lon": 10.75},
                "price_list_id": "price_list:std",
            }
        ]
    ),
]
Contacts = Annotated[
    list[dict[str, Any]],
    _items(
        [
            {
                "_id": "contact:kari",
                "account_id": "account:cafe-nord",
                "name": "Kari",
                "phone": "+47 22 00 00 00",
            }
        ]
    ),
]
PriceListBody = Annotated[
    dict[str, Any],
    Body(
        examples=[
            {
                "name": "Standard",
                "currency": "EUR",
                "territory_ids": ["territory:north"],
                "items": [{"sku": "SKU-1", "unit_price": "12.50"}],
            }
        ]
    ),
]


async def _bulk(
    rt: RuntimeDep, doc_type: str, items: list[dict[str, Any]], who: Principal
) -> BulkOut:
    result = await masterdata.upsert_many(rt.couch, rt.dbs.master, doc_type, items, who.user_id)
    return BulkOut(items=result.items, errors=result.errors)


@router.put("/products")
async def put_products(items: Products, who: BackOffice, rt: RuntimeDep) -> BulkOut:
    """Create or replace products (a product without _id gets product:<sku>)."""
    return await _bulk(rt, "product", items, who)


@router.put("/accounts")
async def put_accounts(items: Accounts, who: BackOffice, rt: RuntimeDep) -> BulkOut:
    """Create or replace accounts; an account's territory stays unless territory_id is sent."""
    return await _bulk(rt, "account", items, who)


@router.put("/contacts")
async def put_contacts(items: Contacts, who: BackOffice, rt: RuntimeDep) -> BulkOut:
    """Create or replace contacts."""
    return await _bulk(rt, "contact", items, who)


@router.put("/price-lists/{price_list_id}")
async def put_price_list(
    price_list_id: str, body: PriceListBody, who: BackOffice, rt: RuntimeDep, response: Response
) -> dict[str, Any]:
    """Create or replace one price list (201 when new)."""
    row, created = await masterdata.put_price_list(
        rt.couch, rt.dbs, price_list_id, body, who.user_id
    )
    response.status_code = 201 if created else 200
    return row
