"""Users, /me and devices over HTTP against the whole service on PouchDB Server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

PROBLEM = "application/problem+json"
ADMIN = ("admin", "admin-pass")  # the bootstrap admin of the service fixture


async def login(http: httpx.AsyncClient, user: str, password: str) -> str:
    resp = await http.post("/api/v1/auth/token", data={"username": user, "password": password})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_user(
    http: httpx.AsyncClient, admin_token: str, user_id: str, role: str = "rep", **extra: str
) -> dict[str, object]:
    body = {"id": user_id, "name": user_id.title(), "role": role, "password": "secret-123"}
    resp = await http.post("/api/v1/users", json=body | extra, headers=bearer(admin_token))
    assert resp.status_code == 201, resp.text
    result: dict[str, object] = resp.json()
    return result


async def test_admin_creates_a_rep_with_a_database(service) -> None:  # type: ignore[no-untyped-def]
    rt = service.runtime
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        user = await create_user(http, admin, "ana", time_zone="Europe/Lisbon")
    assert user["id"] == "ana" and user["role"] == "rep" and user["time_zone"] == "Europe/Lisbon"
    assert user["active"] is True
    assert "password_hash" not in user and "password" not in user and "_rev" not in user
    assert await rt.couch.db_exists(rt.dbs.rep("ana"))
    stored = await rt.couch.get(rt.dbs.ops, "user:ana")
    assert stored["password_hash"].startswith("$argon2id$")


async def test_duplicate_user_is_409(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        body = {"id": "ana", "name": "Again", "role": "manager", "password": "secret-456"}
        resp = await http.post("/api/v1/users", json=body, headers=bearer(admin))
    assert resp.status_code == 409
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert "already exists" in resp.json()["detail"]


@pytest.mark.parametrize("role", ["rep", "manager", "backoffice"])
async def test_only_admins_create_users(service, role: str) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "someone", role=role)
        token = await login(http, "someone", "secret-123")
        body = {"id": "eve", "name": "Eve", "role": "admin", "password": "secret-123"}
        resp = await http.post("/api/v1/users", json=body, headers=bearer(token))
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert "admin" in resp.json()["detail"] and role in resp.json()["detail"]
        revoke = await http.post("/api/v1/users/admin/revoke-tokens", headers=bearer(token))
        assert revoke.status_code == 403
        assert (await http.get("/api/v1/users/eve", headers=bearer(admin))).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "short"}, "password"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"role": "root"}, "role"),
        ({"id": "Ana"}, "id"),
        ({"id": "ana/../x"}, "id"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_invalid_user_is_422_naming_the_field(  # type: ignore[no-untyped-def]
    service, change: dict[str, object], field: str
) -> None:
    body = {"id": "ana", "name": "Ana", "role": "rep", "password": "secret-123"} | change
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        resp = await http.post("/api/v1/users", json=body, headers=bearer(admin))
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert field in resp.json()["detail"]


async def test_listing_users(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        await create_user(http, admin, "max", role="manager")
        manager = await login(http, "max", "secret-123")
        rep = await login(http, "ana", "secret-123")
        everyone = await http.get("/api/v1/users", headers=bearer(manager))
        reps = await http.get("/api/v1/users", params={"role": "rep"}, headers=bearer(admin))
        refused = await http.get("/api/v1/users", headers=bearer(rep))
    assert [u["id"] for u in everyone.json()] == ["admin", "ana", "max"]
    assert all("password_hash" not in u for u in everyone.json())
    assert [u["id"] for u in reps.json()] == ["ana"]
    assert refused.status_code == 403


async def test_me_sync_url_is_absolute(service_factory, dbs) -> None:  # type: ignore[no-untyped-def]
    for public_url, base in [
        (None, None),
        ("https://sync.example.com/", "https://sync.example.com"),
    ]:
        service = await service_factory(public_url=public_url)
        async with httpx.AsyncClient(base_url=service.url) as http:
            admin = await login(http, *ADMIN)
            if base is None:
                await create_user(http, admin, "ana", role="engineer")
                base = service.url  # default: http://host:port of this service
            token = await login(http, "ana", "secret-123")
            me = (await http.get("/api/v1/me", headers=bearer(token))).json()
        assert me == {
            "id": "ana",
            "role": "engineer",
            "name": "Ana",
            "time_zone": "UTC",
            "sync_url": f"{base}/sync/{dbs.rep('ana')}",
        }


async def test_device_register_and_update(service) -> None:  # type: ignore[no-untyped-def]
    rt = service.runtime
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        auth = bearer(await login(http, "ana", "secret-123"))
        device = {"device_id": "phone-1", "platform": "android", "fcm_token": "tok-1"}
        first = await http.post("/api/v1/me/devices", json=device, headers=auth)
        assert first.status_code == 201
        assert first.json()["fcm_token"] == "tok-1" and first.json()["user_id"] == "ana"
        second = await http.post(
            "/api/v1/me/devices", json=device | {"fcm_token": "tok-2"}, headers=auth
        )
        assert second.status_code == 200 and second.json()["fcm_token"] == "tok-2"
        listed = (await http.get("/api/v1/me/devices", headers=auth)).json()
        bad = await http.post(
            "/api/v1/me/devices", json=device | {"platform": "symbian"}, headers=auth
        )
        anonymous = await http.post("/api/v1/me/devices", json=device)
    assert [(d["device_id"], d["fcm_token"]) for d in listed] == [("phone-1", "tok-2")]
    rows = await rt.couch.all_docs(rt.dbs.ops, startkey="device:", endkey="device:\ufff0")
    assert [r["id"] for r in rows["rows"]] == ["device:ana:phone-1"]
    assert bad.status_code == 422 and "platform" in bad.json()["detail"]
    assert anonymous.status_code == 401


async def test_bootstrap_admin_once_when_two_services_start_together(  # type: ignore[no-untyped-def]
    service_factory,
) -> None:
    first, second = await asyncio.gather(
        service_factory(admin_password="first-pass"), service_factory(admin_password="second-pass")
    )
    rt = first.runtime
    rows = await rt.couch.all_docs(rt.dbs.ops, startkey="user:", endkey="user:\ufff0")
    assert [r["id"] for r in rows["rows"]] == ["user:admin"]
    async with httpx.AsyncClient(base_url=second.url) as http:
        results = [
            (
                await http.post(
                    "/api/v1/auth/token", data={"username": "admin", "password": password}
                )
            ).status_code
            for password in ("first-pass", "second-pass")
        ]
    assert sorted(results) == [200, 401]
    again = await service_factory(admin_password="third-pass")  # a restart changes nothing
    rows = await again.runtime.couch.all_docs(rt.dbs.ops, startkey="user:", endkey="user:\ufff0")
    assert len(rows["rows"]) == 1
