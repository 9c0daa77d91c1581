"""Dry runs of territory changes (rules in field_api.services.move_preview). Manager, admin.

POST /api/v1/territories/{id}/accounts/preview   the body of PUT .../accounts
POST /api/v1/territories/{id}/reps/preview       the body of PUT .../reps

Nothing is written; the same 404 / 422 as the PUT it previews.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, require_roles
from ..services import move_preview as svc
from .territories import AccountIds, UserIds

router = APIRouter(prefix="/api/v1/territories", tags=["territories"])

Manager = Annotated[Principal, Depends(require_roles("manager", "admin"))]


class UserEffect(BaseModel):
    user_id: str
    gain: int = Field(description="documents the user's devices would receive")
    lose: int = Field(description="documents deleted from the user's devices")
    gained: dict[str, int] = Field(description="gain per document type")
    lost: dict[str, int] = Field(description="loss per document type")


class PreviewOut(BaseModel):
    territory_id: str
    users: list[UserEffect] = Field(description="only users whose devices would change")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "territory_id": "south",
                    "users": [
                        {
                            "user_id": "alice",
                            "gain": 0,
                            "lose": 2,
                            "gained": {},
                            "lost": {"account": 1, "contact": 1},
                        },
                        {
                            "user_id": "carol",
                            "gain": 2,
                            "lose": 0,
                            "gained": {"account": 1, "contact": 1},
                            "lost": {},
                        },
                    ],
                }
            ]
        }
    )


@router.post("/{territory_id}/accounts/preview")
async def preview_accounts(
    territory_id: str, account_ids: AccountIds, _: Manager, rt: RuntimeDep
) -> PreviewOut:
    """What setting the territory's accounts would add to and remove from each device."""
    view = await svc.preview_accounts(rt.couch, rt.dbs, territory_id, account_ids)
    return PreviewOut.model_validate(view)


@router.post("/{territory_id}/reps/preview")
async def preview_reps(
    territory_id: str, user_ids: UserIds, _: Manager, rt: RuntimeDep
) -> PreviewOut:
    """What setting the territory's reps would add to and remove from each device."""
    return PreviewOut.model_validate(
        await svc.preview_reps(rt.couch, rt.dbs, territory_id, user_ids)
    )
