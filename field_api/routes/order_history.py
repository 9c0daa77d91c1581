"""An order's revisions and conflict history (rules in field_api.services.order_history).

GET /api/v1/orders/{id}/history      backoffice, admin, manager
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, require_roles
from ..services import order_history as svc

router = APIRouter(prefix="/api/v1", tags=["orders"])

Readers = Annotated[Principal, Depends(require_roles("backoffice", "admin", "manager"))]


class Revision(BaseModel):
    rev: str
    available: bool = Field(description="false once CouchDB compacted the old body away")
    deleted: bool
    status: str | None
    total: str | None
    updated_at: str | None
    updated_by: str | None = Field(description="who wrote it: a user id or a device id")
    lines: int = Field(description="live lines in that revision")


class HistoryOut(BaseModel):
    order_id: str
    rev: str
    status: str | None
    revisions: list[Revision] = Field(description="the winner's history, newest first")
    open_conflicts: list[str] = Field(description="other live leaves now (the resolver's work)")
    conflicts: list[dict[str, Any]] = Field(
        description="conflict records, newest first, each with leaf_authors {rev: updated_by}"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "order:o-1",
                    "rev": "4-1c2d",
                    "status": "confirmed",
                    "revisions": [
                        {
                            "rev": "4-1c2d",
                            "available": True,
                            "deleted": False,
                            "status": "confirmed",
                            "total": "22.50",
                            "updated_at": "2024-05-01T10:02:11.513Z",
                            "updated_by": "bo-anna",
                            "lines": 1,
                        }
                    ],
                    "open_conflicts": [],
                    "conflicts": [
                        {
                            "_id": "conflict_record:order:o-1:4-1c2d",
                            "doc_id": "order:o-1",
                            "leaves": ["3-aa", "3-bb"],
                            "merged_rev": "4-1c2d",
                            "strategy": "order_merge",
                            "overridden": [
                                {"what": "lines[l1].qty", "lost_value": 5, "by": "backoffice"}
                            ],
                            "user_ids": ["alice"],
                            "leaf_authors": {"3-aa": "alice", "3-bb": "bo-anna"},
                        }
                    ],
                }
            ]
        }
    )


@router.get("/orders/{order_id}/history", responses={404: {"description": "no such order"}})
async def order_history(order_id: str, _: Readers, rt: RuntimeDep) -> HistoryOut:
    """Who wrote which revision of an order, its open conflicts and its resolved ones."""
    return HistoryOut.model_validate(await svc.order_history(rt.couch, rt.dbs, order_id))
