"""The outgoing webhook's delivery log (the contract a receiver sees is in field_api.webhooks).

GET /api/v1/webhooks/deliveries?status=pending|delivered|dead&limit=    admin, backoffice
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from sync_gateway.auth.authenticate import Principal

from .. import webhooks
from ..deps import RuntimeDep, require_roles

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

Readers = Annotated[Principal, Depends(require_roles("admin", "backoffice"))]


class DeliveryOut(BaseModel):
    delivery_id: str = Field(description="X-Fieldsync-Delivery: order id and revision")
    event: str
    order_id: str
    order_rev: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status: int | None = Field(description="HTTP status of the last attempt, if any")
    last_error: str | None
    created_at: str
    updated_at: str
    next_attempt_at: str | None = Field(description="when a pending delivery is tried next")
    delivered_at: str | None


class DeliveriesOut(BaseModel):
    items: list[DeliveryOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "delivery_id": "order:o-1:2-9f1c0b",
                            "event": "order.submitted",
                            "order_id": "order:o-1",
                            "order_rev": "2-9f1c0b",
                            "status": "pending",
                            "attempts": 2,
                            "last_status": 503,
                            "last_error": "HTTP 503: maintenance",
                            "created_at": "2024-05-01T08:31:02.120Z",
                            "updated_at": "2024-05-01T08:31:12.480Z",
                            "next_attempt_at": "2024-05-01T08:31:22.480Z",
                            "delivered_at": None,
                        }
                    ]
                }
            ]
        }
    )


@router.get("/webhooks/deliveries")
async def deliveries(
    _: Readers,
    rt: RuntimeDep,
    status: Annotated[
        Literal["pending", "delivered", "dead"] | None,
        Query(description="only deliveries in this state; default all"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveriesOut:
    """The webhook delivery log, newest first (pending ones by their next attempt)."""
    items = await webhooks.list_deliveries(rt.couch, rt.dbs, status=status, limit=limit)
    return DeliveriesOut.model_validate({"items": items})
