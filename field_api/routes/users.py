"""Users (admins create them, managers list them) and the caller's own profile and devices.

POST  /api/v1/users                       admin: create a user (a field user gets rep_<id>)
GET   /api/v1/users[?role=]               admin, manager
GET   /api/v1/users/{id}                  admin, manager
PATCH /api/v1/users/{id}                  admin: name, time zone, role, active, password
                                          (a new password, role or a deactivation revokes
                                          the user's tokens)
POST  /api/v1/users/{id}/revoke-tokens    admin: every token issued until now is refused
GET   /api/v1/me                          the caller, with their sync_url
GET   /api/v1/me/devices                  the caller's devices
POST  /api/v1/me/devices                  register or update one device (201 when new; at most
                                          20 per user)
DELETE /api/v1/me/devices/{device_id}     forget one of the caller's devices
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mobile_schema import FIELD_ROLES
from sync_gateway.auth import devices as device_docs
from sync_gateway.auth import users as user_docs
from sync_gateway.auth.authenticate import Principal
from sync_gateway.auth.errors import InvalidInput
from sync_gateway.databases import USER_ID_RE

from ..container import Services
from ..deps import (
    AuthenticatorDep,
    DeviceStoreDep,
    PrincipalDep,
    RuntimeDep,
    ServicesDep,
    UserStoreDep,
    auth_errors,
    require_roles,
)
from ..problems import Conflicting, NotFound

router = APIRouter(prefix="/api/v1", tags=["users"])

Role = Literal["rep", "engineer", "manager", "backoffice", "admin"]  # = mobile_schema.ROLES
Platform = Literal["android", "ios", "web", "pda", "other"]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
AdminOrManager = Annotated[Principal, Depends(require_roles("admin", "manager"))]


def _time_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return user_docs.validate_time_zone(value)
    except InvalidInput as exc:
        raise ValueError(exc.reason) from exc


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=USER_ID_RE.pattern, examples=["ana"])
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=8, max_length=1024)
    time_zone: str = "UTC"

    _tz = field_validator("time_zone")(_time_zone)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    time_zone: str | None = None
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)

    _tz = field_validator("time_zone")(_time_zone)


class UserOut(BaseModel):
    id: str
    name: str
    role: str
    time_zone: str
    active: bool
    tokens_valid_after: float | None
    created_at: str
    updated_at: str


class MeOut(BaseModel):
    id: str
    role: str
    name: str
    time_zone: str
    sync_url: str | None


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=device_docs.DEVICE_ID_RE.pattern)
    platform: Platform
    fcm_token: str | None = Field(default=None, min_length=1, max_length=device_docs.MAX_FCM_TOKEN)


class DeviceOut(BaseModel):
    user_id: str
    device_id: str
    platform: str
    fcm_token: str | None
    fcm_token_updated_at: str | None
    user_agent: str | None
    last_pull: str | None
    last_push: str | None
    created_at: str
    updated_at: str


def _user_out(doc: dict[str, Any]) -> UserOut:
    return UserOut(**user_docs.public_view(doc))


@router.post("/users", status_code=201)
async def create_user(
    body: UserIn, _: Admin, store: UserStoreDep, authn: AuthenticatorDep, s: ServicesDep
) -> UserOut:
    """Create a user; a rep or engineer also gets their database."""
    with auth_errors():
        doc = await store.create_user(
            body.id,
            name=body.name,
            role=body.role,
            password=body.password,
            time_zone=body.time_zone,
        )
    authn.forget(body.id)
    if body.role in FIELD_ROLES:
        # fill the new database in the background; the periodic rescan would also find it
        _fill_in_background(s, body.id)
    return _user_out(doc)


@router.get("/users")
async def list_users(
    _: AdminOrManager, store: UserStoreDep, role: Role | None = None
) -> list[UserOut]:
    """Every user, or those of one role."""
    return [_user_out(doc) for doc in await store.list_users(role=role)]


@router.get("/users/{user_id}")
async def get_user(user_id: str, _: AdminOrManager, store: UserStoreDep) -> UserOut:
    """One user."""
    doc = await store.get_user(user_id)
    if doc is None:
        raise NotFound(f"there is no user {user_id!r}")
    return _user_out(doc)


@router.patch("/users/{user_id}")
async def update_user(
    user_id: str,
    body: UserPatch,
    admin: Admin,
    store: UserStoreDep,
    authn: AuthenticatorDep,
    s: ServicesDep,
) -> UserOut:
    """Change a user's name, time zone, role, password, or disable / enable them; a new
    password, a new role or a deactivation revokes the tokens issued before it."""
    if body.active is False and user_id == admin.user_id:
        raise Conflicting("you cannot disable yourself; ask another admin")
    if body.role is not None and body.role != "admin" and user_id == admin.user_id:
        raise Conflicting("you cannot take the admin role from yourself; ask another admin")
    try:
        with auth_errors():
            doc = await store.require_user(user_id)
            if body.name is not None or body.time_zone is not None:
                doc = await store.update_profile(user_id, name=body.name, time_zone=body.time_zone)
            if body.password is not None:
                doc = await store.set_password(user_id, body.password)
            if body.role is not None and body.role != doc["role"]:
                doc = await store.set_role(user_id, body.role)
                if body.role in FIELD_ROLES:
                    _fill_in_background(s, user_id)
            if body.active is not None:
                doc = await store.set_active(user_id, body.active)
    finally:
        authn.forget(user_id)  # even half done: a revocation must take effect at once
    return _user_out(doc)


def _fill_in_background(s: Services, user_id: str) -> None:
    if s.workers is None:
        return  # the router runs elsewhere: its periodic rescan finds the database
    s.in_background(s.workers.router.add_user_db(user_id))


@router.post("/users/{user_id}/revoke-tokens")
async def revoke_tokens(
    user_id: str, _: Admin, store: UserStoreDep, authn: AuthenticatorDep
) -> UserOut:
    """Refuse every token issued to this user so far (lost phone, left the company)."""
    with auth_errors():
        doc = await store.revoke_tokens(user_id)
    authn.forget(user_id)
    return _user_out(doc)


@router.get("/me")
async def me(principal: PrincipalDep, rt: RuntimeDep, authn: AuthenticatorDep) -> MeOut:
    """The caller, with the absolute URL their devices replicate with (null if no database)."""
    doc = await authn.user(principal.user_id)
    if doc is None:
        raise NotFound("your user no longer exists")
    sync_url = None
    if doc["role"] in FIELD_ROLES:
        sync_url = f"{rt.config.public_base}/sync/{rt.dbs.rep(doc['id'])}"
    return MeOut(
        id=doc["id"],
        role=doc["role"],
        name=doc["name"],
        time_zone=doc.get("time_zone") or "UTC",
        sync_url=sync_url,
    )


@router.get("/me/devices")
async def my_devices(principal: PrincipalDep, store: DeviceStoreDep) -> list[DeviceOut]:
    """The caller's registered devices."""
    docs = await store.list_devices(principal.user_id)
    return [DeviceOut(**device_docs.public_view(doc)) for doc in docs]


@router.post("/me/devices")
async def register_device(
    body: DeviceIn,
    principal: PrincipalDep,
    store: DeviceStoreDep,
    request: Request,
    response: Response,
) -> DeviceOut:
    """Register this device or update its push token (201 when new, 200 when updated)."""
    with auth_errors():
        doc, created = await store.register(
            principal.user_id,
            body.device_id,
            body.platform,
            body.fcm_token,
            user_agent=request.headers.get("user-agent"),
        )
    response.status_code = 201 if created else 200
    return DeviceOut(**device_docs.public_view(doc))


@router.delete("/me/devices/{device_id}", status_code=204)
async def remove_device(device_id: str, principal: PrincipalDep, store: DeviceStoreDep) -> None:
    """Forget one of the caller's devices (a lost phone; room under the per-user cap)."""
    if not device_docs.DEVICE_ID_RE.match(device_id):
        raise NotFound(f"you have no device {device_id[:128]!r}")
    if not await store.remove(principal.user_id, device_id):
        raise NotFound(f"you have no device {device_id!r}")
