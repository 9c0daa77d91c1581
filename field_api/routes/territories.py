"""Territories: managers create them and decide which accounts and reps they hold.

POST /api/v1/territories                 {"id", "name"} -> 201; 409 if it exists
GET  /api/v1/territories                 every territory with its rep_ids and account_ids
GET  /api/v1/territories/{id}            one territory (404)
PUT  /api/v1/territories/{id}/accounts   ["account:a1", ...]: exactly these accounts (422 names
                                         unknown ids; nothing is written then)
PUT  /api/v1/territories/{id}/reps       ["alice", ...]: its reps / engineers (422 names bad ids)

A territory answers as {"id": "north", "doc_id": "territory:north", "name", "rep_ids",
"account_ids", "updated_at", "updated_by"}. Ids in paths and bodies may be given with or without
their "<type>:" prefix. The router moves the accounts onto (and off) the reps' devices.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from mobile_schema.ids import LOCAL_ID_PATTERN
from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, require_roles
from ..services import masterdata

router = APIRouter(prefix="/api/v1/territories", tags=["territories"])

Manager = Annotated[Principal, Depends(require_roles("manager", "admin"))]


class TerritoryIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id": "north", "name": "North"}]}
    )

    id: str = Field(pattern=LOCAL_ID_PATTERN, examples=["north"])
    name: str = Field(min_length=1, max_length=200, examples=["North"])


class TerritoryOut(BaseModel):
    id: str
    doc_id: str
    name: str
    rep_ids: list[str]
    account_ids: list[str]
    updated_at: str | None
    updated_by: str | None


AccountIds = Annotated[
    list[str],
    Body(max_length=masterdata.MAX_BULK_ITEMS, examples=[["account:cafe-nord", "account:kiosk-7"]]),
]
UserIds = Annotated[list[str], Body(max_length=1_000, examples=[["alice", "carol"]])]


def _out(view: dict[str, Any]) -> TerritoryOut:
    return TerritoryOut(**view)


@router.post("", status_code=201)
async def create_territory(body: TerritoryIn, who: Manager, rt: RuntimeDep) -> TerritoryOut:
    """Create an empty territory."""
    return _out(
        await masterdata.create_territory(rt.couch, rt.dbs, body.id, body.name, who.user_id)
    )


@router.get("")
async def list_territories(_: Manager, rt: RuntimeDep) -> list[TerritoryOut]:
    """Every territory with its reps and accounts."""
    return [_out(view) for view in await masterdata.list_territories(rt.couch, rt.dbs)]


@router.get("/{territory_id}")
async def get_territory(territory_id: str, _: Manager, rt: RuntimeDep) -> TerritoryOut:
    """One territory with its reps and accounts."""
    return _out(await masterdata.get_territory(rt.couch, rt.dbs, territory_id))


@router.put("/{territory_id}/accounts")
async def set_accounts(
    territory_id: str, account_ids: AccountIds, who: Manager, rt: RuntimeDep
) -> TerritoryOut:
    """Make the territory hold exactly these accounts (the others leave it)."""
    view = await masterdata.set_accounts(rt.couch, rt.dbs, territory_id, account_ids, who.user_id)
    return _out(view)


@router.put("/{territory_id}/reps")
async def set_reps(
    territory_id: str, user_ids: UserIds, who: Manager, rt: RuntimeDep
) -> TerritoryOut:
    """Set the reps (or engineers) who serve the territory."""
    return _out(await masterdata.set_reps(rt.couch, rt.dbs, territory_id, user_ids, who.user_id))
