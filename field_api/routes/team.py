"""The team view for managers: sync health and the day's work of every field user.

GET /api/v1/team[?day=YYYY-MM-DD]    manager, admin

The meaning (and the bounded cost) of each number is in :mod:`field_api.services.team`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from sync_gateway.auth.authenticate import Principal

from ..deps import DeviceStoreDep, RuntimeDep, UserStoreDep, ViewsReadyDep, require_roles
from ..services import team as svc

router = APIRouter(prefix="/api/v1", tags=["team"])

Managers = Annotated[Principal, Depends(require_roles("manager", "admin"))]


class DeviceRow(BaseModel):
    device_id: str
    platform: str | None
    last_pull: str | None
    last_push: str | None


class MemberOut(BaseModel):
    user_id: str
    name: str | None
    role: str | None
    active: bool | None
    devices: list[DeviceRow]
    last_pull: str | None = Field(description="newest pull over the user's devices")
    last_push: str | None
    pending_changes: int = Field(
        description="documents in the user's database changed after their last pull (approx.)"
    )
    pending_capped: bool = Field(description="true when there may be more than counted")
    open_conflicts: int = Field(description="documents with several live leaves (recent window)")
    orders_today: int = Field(description="orders with submitted_at on `day` (UTC)")
    visits_planned: int = Field(description="visits scheduled on `day`, not cancelled")
    visits_done: int = Field(description="of those, done")


class TeamOut(BaseModel):
    day: str
    users: list[MemberOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "day": "2024-05-02",
                    "users": [
                        {
                            "user_id": "alice",
                            "name": "Alice",
                            "role": "rep",
                            "active": True,
                            "devices": [
                                {
                                    "device_id": "pixel-7",
                                    "platform": "android",
                                    "last_pull": "2024-05-02T09:12:03.120Z",
                                    "last_push": "2024-05-02T09:12:04.001Z",
                                }
                            ],
                            "last_pull": "2024-05-02T09:12:03.120Z",
                            "last_push": "2024-05-02T09:12:04.001Z",
                            "pending_changes": 2,
                            "pending_capped": False,
                            "open_conflicts": 0,
                            "orders_today": 5,
                            "visits_planned": 6,
                            "visits_done": 3,
                        }
                    ],
                }
            ]
        }
    )


@router.get("/team")
async def team(
    _: Managers,
    rt: RuntimeDep,
    ready: ViewsReadyDep,
    users: UserStoreDep,
    devices: DeviceStoreDep,
    day: Annotated[
        str | None,
        Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="UTC day; default today"),
    ] = None,
) -> TeamOut:
    """Per field user: devices, last pull and push, pending changes, conflicts, the day's work."""
    view: dict[str, Any] = await svc.team_view(rt.couch, rt.dbs, users, devices, ready, day=day)
    return TeamOut.model_validate(view)
