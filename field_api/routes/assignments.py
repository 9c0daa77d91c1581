"""Visits and work orders: managers create and (re)assign them; the router puts them on devices.

POST /api/v1/visits                        a visit for an assignee at an account -> 201
GET  /api/v1/visits[?assignee_id=]         every visit, or one user's
GET  /api/v1/visits/{id}                   one visit (404)
PUT  /api/v1/visits/{id}/assignee          {"assignee_id"}: reassign
POST /api/v1/work-orders                   a work order (optionally assigned) -> 201
GET  /api/v1/work-orders[?assignee_id=]    every work order, or one user's
GET  /api/v1/work-orders/{id}              one work order (404)
PUT  /api/v1/work-orders/{id}/assignee     {"assignee_id"}: (re)assign

Answers are the stored documents (mobile_schema's visit / work_order, with ``_rev``). Without an
``id`` the server makes ``visit:<uuid4 hex>``; 409 when a given id exists, 422 when the assignee
is not an active rep or engineer or the account does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mobile_schema.field import Priority, VisitKind, VisitStatus, WorkOrderStatus
from mobile_schema.ids import LOCAL_ID_PATTERN
from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, require_roles
from ..services import assignments

router = APIRouter(prefix="/api/v1", tags=["assignments"])

Manager = Annotated[Principal, Depends(require_roles("manager", "admin"))]
OptionalId = Annotated[str | None, Field(default=None, max_length=140)]


class VisitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "assignee_id": "bob",
                    "account_id": "account:cafe-nord",
                    "kind": "service",
                    "scheduled_start": "2024-05-02T08:00:00.000Z",
                    "scheduled_end": "2024-05-02T09:00:00.000Z",
                }
            ]
        },
    )

    id: OptionalId = None
    assignee_id: str = Field(pattern=LOCAL_ID_PATTERN)
    account_id: str = Field(min_length=1, max_length=140)
    kind: VisitKind = "sales"
    status: VisitStatus = "planned"
    scheduled_start: str | None = None
    scheduled_end: str | None = None
    work_order_id: str | None = None


class WorkOrderIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account_id": "account:cafe-nord",
                    "assignee_id": "bob",
                    "priority": "high",
                    "problem": "Espresso machine leaks",
                    "sla_due": "2024-05-03T17:00:00.000Z",
                }
            ]
        },
    )

    id: OptionalId = None
    account_id: str = Field(min_length=1, max_length=140)
    assignee_id: str | None = Field(default=None, pattern=LOCAL_ID_PATTERN)
    priority: Priority = "normal"
    status: WorkOrderStatus | None = None
    problem: str = Field(min_length=1)
    sla_due: str | None = None


class AssigneeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"assignee_id": "bob"}]}
    )

    assignee_id: str = Field(pattern=LOCAL_ID_PATTERN)


Doc = dict[str, Any]


@router.post("/visits", status_code=201)
async def create_visit(body: VisitIn, who: Manager, rt: RuntimeDep) -> Doc:
    """Plan a visit for a rep or engineer at an account."""
    return await assignments.create(rt.couch, rt.dbs, "visit", body.model_dump(), who.user_id)


@router.get("/visits")
async def list_visits(_: Manager, rt: RuntimeDep, assignee_id: str | None = None) -> list[Doc]:
    """Every visit, or the visits assigned to one user."""
    return await assignments.list_items(rt.couch, rt.dbs, "visit", assignee_id)


@router.get("/visits/{visit_id}")
async def get_visit(visit_id: str, _: Manager, rt: RuntimeDep) -> Doc:
    """One visit."""
    return await assignments.get(rt.couch, rt.dbs, "visit", visit_id)


@router.put("/visits/{visit_id}/assignee")
async def reassign_visit(visit_id: str, body: AssigneeIn, who: Manager, rt: RuntimeDep) -> Doc:
    """Give a visit to another rep or engineer."""
    return await assignments.reassign(
        rt.couch, rt.dbs, "visit", visit_id, body.assignee_id, who.user_id
    )


@router.post("/work-orders", status_code=201)
async def create_work_order(body: WorkOrderIn, who: Manager, rt: RuntimeDep) -> Doc:
    """Open a work order at an account, optionally assigned to an engineer."""
    fields = body.model_dump()
    return await assignments.create(rt.couch, rt.dbs, "work_order", fields, who.user_id)


@router.get("/work-orders")
async def list_work_orders(_: Manager, rt: RuntimeDep, assignee_id: str | None = None) -> list[Doc]:
    """Every work order, or the work orders assigned to one user."""
    return await assignments.list_items(rt.couch, rt.dbs, "work_order", assignee_id)


@router.get("/work-orders/{work_order_id}")
async def get_work_order(work_order_id: str, _: Manager, rt: RuntimeDep) -> Doc:
    """One work order."""
    return await assignments.get(rt.couch, rt.dbs, "work_order", work_order_id)


@router.put("/work-orders/{work_order_id}/assignee")
async def reassign_work_order(
    work_order_id: str, body: AssigneeIn, who: Manager, rt: RuntimeDep
) -> Doc:
    """Give a work order to another engineer (an open one becomes assigned)."""
    return await assignments.reassign(
        rt.couch, rt.dbs, "work_order", work_order_id, body.assignee_id, who.user_id
    )
