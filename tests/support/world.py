"""A running service with field users and their tokens, for gateway and router tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class FieldUser:
    id: str
    role: str
    password: str
    token: str
    sync_url: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    service: Any
    admin_token: str
    users: dict[str, FieldUser] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.service.url)

    @property
    def couch(self) -> Any:
        return self.service.runtime.couch

    @property
    def dbs(self) -> Any:
        return self.service.runtime.dbs

    def http(self, user: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers.update(self.users[user].headers)
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)


async def login(base_url: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        resp = await http.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["access_token"]
        return token


async def add_user(world: World, user_id: str, role: str) -> FieldUser:
    password = f"{user_id}-password"
    async with httpx.AsyncClient(
        base_url=world.url, headers={"Authorization": f"Bearer {world.admin_token}"}
    ) as http:
        resp = await http.post(
            "/api/v1/users",
            json={"id": user_id, "name": user_id.title(), "role": role, "password": password},
        )
        assert resp.status_code == 201, resp.text
    token = await login(world.url, user_id, password)
    async with httpx.AsyncClient(
        base_url=world.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        me = (await http.get("/api/v1/me")).json()
    user = FieldUser(user_id, role, password, token, me.get("sync_url"))
    world.users[user_id] = user
    return user
