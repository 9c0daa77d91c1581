"""The back office's orders: the inbox an ERP follows, one order, decisions, the export.

GET  /api/v1/orders?status=&rep_id=&territory_id=&since=&limit=   backoffice, admin, manager
GET  /api/v1/orders/export?format=csv|json&since=&status=&...     backoffice, admin, manager
GET  /api/v1/orders/{id}                                          backoffice, admin, manager
POST /api/v1/orders/{id}/confirm   {} | {"lines": [{"line_id", "confirmed_qty"}]}
POST /api/v1/orders/{id}/reject    {"reason"}
POST /api/v1/orders/{id}/ship      {}
POST /api/v1/orders/{id}/invoice   {}                             backoffice, admin

The inbox contract (cursor, once-per-change, what an ERP dedupes on) is in the docstring of
:func:`inbox`, :mod:`field_api.services.orders`, :mod:`field_api.services.order_cursor`
and docs/orders-inbox.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mobile_schema.fields import LocalId, Quantity
from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, require_roles
from ..services import order_cursor, order_export, order_lifecycle
from ..services import orders as svc

router = APIRouter(prefix="/api/v1", tags=["orders"])

Readers = Annotated[Principal, Depends(require_roles("backoffice", "admin", "manager"))]
Deciders = Annotated[Principal, Depends(require_roles("backoffice", "admin"))]

ORDER_EXAMPLE: dict[str, Any] = {
    "_id": "order:o-1",
    "_rev": "3-9f1c...",
    "type": "order",
    "schema_version": 2,
    "rep_id": "alice",
    "account_id": "account:cafe-nord",
    "status": "confirmed",
    "currency": "EUR",
    "lines": [
        {
            "line_id": "l1",
            "sku": "SKU-1",
            "qty": 3,
            "unit_price": "12.50",
            "discount_pct": 10,
            "confirmed_qty": 2,
            "deleted": False,
            "updated_at": "2024-05-01T08:30:00.000Z",
        }
    ],
    "note": "Deliver before noon",
    "submitted_at": "2024-05-01T08:31:00.000Z",
    "confirmed_at": "2024-05-01T10:02:11.513Z",
    "rejection_reason": None,
    "total": "22.50",
    "updated_at": "2024-05-01T10:02:11.513Z",
    "updated_by": "bo-anna",
}
ORDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"example": ORDER_EXAMPLE}}},
    404: {"description": "no such order"},
    409: {
        "description": "illegal transition (problem+json with the reason)",
        "content": {
            "application/problem+json": {
                "example": {
                    "type": "about:blank",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "the order is still a draft: the rep has not submitted it; "
                    "cannot confirm",
                    "status_now": "draft",
                }
            }
        },
    },
}


class InboxOut(BaseModel):
    items: list[dict[str, Any]] = Field(description="order documents, in change order")
    next: str = Field(description="pass back as `since` to continue after these items")
    more: bool = Field(description="false when the walk reached the end of the feed for now")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [ORDER_EXAMPLE], "next": "c1.MTQ", "more": False}]
        }
    )


class ConfirmLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: LocalId
    confirmed_qty: Quantity


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[ConfirmLine] | None = Field(
        default=None,
        max_length=500,
        description="confirmed quantities; live lines not listed are confirmed as ordered",
    )


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class EmptyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _filter(status: str | None, rep_id: str | None, territory_id: str | None) -> svc.OrderFilter:
    return svc.OrderFilter(
        statuses=svc.parse_statuses(status),
        rep_id=rep_id,
        territory_id=svc.territory_ref(territory_id),
    )


StatusQ = Annotated[
    str | None,
    Query(
        max_length=200,
        description="comma-separated statuses, or `all`; default: every status but draft",
        examples=["submitted"],
    ),
]
RepQ = Annotated[str | None, Query(max_length=128, examples=["alice"])]
TerritoryQ = Annotated[
    str | None,
    Query(max_length=200, description="the account's current territory", examples=["north"]),
]
SinceQ = Annotated[
    str | None,
    Query(max_length=2000, description="the `next` cursor of the previous page; empty = start"),
]


@router.get("/orders", responses={422: {"description": "bad filter or cursor"}})
async def inbox(
    _: Readers,
    rt: RuntimeDep,
    status: StatusQ = None,
    rep_id: RepQ = None,
    territory_id: TerritoryQ = None,
    since: SinceQ = None,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_LIMIT)] = 100,
) -> InboxOut:
    """The orders inbox: a walk over the changes of fs_orders; follow `next` to get every order.

    Each item is an order's current revision when read; an order that changes again later
    appears again later in the walk (compare `_rev`). Following `next` from an empty `since`
    yields every order, none skipped, no revision twice (except replays after a CouchDB
    cluster node failure: dedupe by `_id` + `_rev`). An ERP that wants each submitted order
    once keeps the `_id`s it has taken and stores `next` after processing a page. A page may
    have fewer than `limit` items while `more` is true: keep following.
    """
    page = await svc.read_inbox(
        rt.couch, rt.dbs, _filter(status, rep_id, territory_id), since=since, limit=limit
    )
    return InboxOut(items=page.items, next=page.next, more=page.more)


@router.get(
    "/orders/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV (one row per live line) or a JSON array of orders; the header "
            "X-Next-Cursor is the `since` of the next export",
            "content": {
                "text/csv": {"example": ",".join(order_export.CSV_COLUMNS) + "\r\n"},
                "application/json": {"example": [ORDER_EXAMPLE]},
            },
        }
    },
)
async def export(
    _: Readers,
    rt: RuntimeDep,
    format: Literal["csv", "json"] = "csv",
    since: SinceQ = None,
    status: StatusQ = None,
    rep_id: RepQ = None,
    territory_id: TerritoryQ = None,
) -> StreamingResponse:
    """Export orders changed since a cursor, streamed: CSV lines or a JSON array."""
    flt = _filter(status, rep_id, territory_id)
    # a bad cursor is a 422 now, not a broken stream
    await order_cursor.check_cursor(rt.couch, rt.dbs, since)
    until = await order_cursor.head_cursor(rt.couch, rt.dbs)
    orders = order_export.iter_export(rt.couch, rt.dbs, flt, since=since, until=until)
    headers = {"X-Next-Cursor": order_cursor.encode_cursor(until)}
    if format == "json":
        return StreamingResponse(
            _json_array(orders), media_type="application/json", headers=headers
        )
    headers["Content-Disposition"] = 'attachment; filename="orders.csv"'
    return StreamingResponse(_csv(orders), media_type="text/csv; charset=utf-8", headers=headers)


async def _json_array(orders: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for order in orders:
        yield (b"" if first else b",") + orjson.dumps(order)
        first = False
    yield b"]"


async def _csv(orders: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(order_export.CSV_COLUMNS)
    async for order in orders:
        writer.writerows(order_export.csv_rows(order))
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


@router.get("/orders/{order_id}", responses=ORDER_RESPONSES)
async def get_order(order_id: str, _: Readers, rt: RuntimeDep) -> dict[str, Any]:
    """One order (`order:o-1` or `o-1`), its current winning revision with `_conflicts`."""
    return await svc.get_order(rt.couch, rt.dbs, order_id)


async def _decide(
    rt: RuntimeDep, principal: Principal, order_id: str, action: order_lifecycle.Action, **kw: Any
) -> dict[str, Any]:
    doc, _ = await order_lifecycle.apply_decision(
        rt.couch, rt.dbs, order_id, action, user_id=principal.user_id, **kw
    )
    return doc


ConfirmBody = Annotated[
    ConfirmIn | None,
    Body(
        openapi_examples={
            "as ordered": {"value": {}},
            "with quantities": {"value": {"lines": [{"line_id": "l1", "confirmed_qty": 2}]}},
        }
    ),
]


@router.post("/orders/{order_id}/confirm", responses=ORDER_RESPONSES)
async def confirm(
    order_id: str, principal: Deciders, rt: RuntimeDep, body: ConfirmBody = None
) -> dict[str, Any]:
    """Confirm a submitted order, optionally with confirmed quantities per line (idempotent)."""
    lines = [line.model_dump() for line in body.lines] if body and body.lines else None
    return await _decide(rt, principal, order_id, "confirm", lines=lines)


@router.post("/orders/{order_id}/reject", responses=ORDER_RESPONSES)
async def reject(
    order_id: str,
    principal: Deciders,
    rt: RuntimeDep,
    body: Annotated[RejectIn, Body(examples=[{"reason": "Account on credit hold"}])],
) -> dict[str, Any]:
    """Reject a submitted or confirmed order with a reason the rep will read (idempotent)."""
    return await _decide(rt, principal, order_id, "reject", reason=body.reason)


@router.post("/orders/{order_id}/ship", responses=ORDER_RESPONSES)
async def ship(
    order_id: str, principal: Deciders, rt: RuntimeDep, body: EmptyIn | None = None
) -> dict[str, Any]:
    """Mark a confirmed order shipped (idempotent)."""
    return await _decide(rt, principal, order_id, "ship")


@router.post("/orders/{order_id}/invoice", responses=ORDER_RESPONSES)
async def invoice(
    order_id: str, principal: Deciders, rt: RuntimeDep, body: EmptyIn | None = None
) -> dict[str, Any]:
    """Mark a shipped order invoiced (idempotent)."""
    return await _decide(rt, principal, order_id, "invoice")
