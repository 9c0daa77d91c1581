"""Signing in over HTTP: tokens, Basic, and every refusal as a 401 problem+json with its reason."""

from __future__ import annotations

import base64

import httpx

ADMIN = ("admin", "admin-pass")  # the bootstrap admin of the service fixture
PROBLEM = "application/problem+json"


async def login(http: httpx.AsyncClient, user: str, password: str) -> str:
    resp = await http.post("/api/v1/auth/token", data={"username": user, "password": password})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


async def create_user(
    http: httpx.AsyncClient, admin_token: str, user_id: str, role: str = "rep", **extra: str
) -> dict[str, object]:
    body = {"id": user_id, "name": user_id.title(), "role": role, "password": "secret-123"}
    resp = await http.post(
        "/api/v1/users", json=body | extra, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert resp.status_code == 201, resp.text
    result: dict[str, object] = resp.json()
    return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_401(resp: httpx.Response, reason: str) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.headers["www-authenticate"] == "Bearer"
    body = resp.json()
    assert body["status"] == 401 and reason in body["detail"], body


async def test_token_issue_and_use(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        resp = await http.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "admin-pass"}
        )
        assert resp.status_code == 200
        body = resp.json()
        assert body["token_type"] == "bearer" and body["role"] == "admin"
        assert body["expires_in"] == service.settings.token_ttl_s
        me = await http.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": "admin",
        "role": "admin",
        "name": "Administrator",
        "time_zone": "UTC",
        "sync_url": None,
    }


async def test_wrong_password_and_unknown_user(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        for user, password in [("admin", "admin-pasS"), ("ghost", "admin-pass")]:
            resp = await http.post(
                "/api/v1/auth/token", data={"username": user, "password": password}
            )
            assert_401(resp, "wrong user name or password")
        missing = await http.post("/api/v1/auth/token", data={"username": "admin"})
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith(PROBLEM)
    assert "password" in missing.json()["detail"]


async def test_no_credentials(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        assert_401(await http.get("/api/v1/me"), "no credentials")
        assert_401(await http.get("/api/v1/me", headers=bearer("nope")), "malformed")


async def test_expired_token(service_factory) -> None:  # type: ignore[no-untyped-def]
    service = await service_factory(token_ttl_s=-10)
    async with httpx.AsyncClient(base_url=service.url) as http:
        token = await login(http, *ADMIN)
        assert_401(await http.get("/api/v1/me", headers=bearer(token)), "expired")


async def test_tampered_token(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        token = await login(http, "ana", "secret-123")
        header, payload, signature = token.split(".")
        claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        forged_claims = claims.replace(b'"sub":"ana"', b'"sub":"admin"')
        assert forged_claims != claims
        forged = base64.urlsafe_b64encode(forged_claims).rstrip(b"=").decode()
        resp = await http.get("/api/v1/me", headers=bearer(f"{header}.{forged}.{signature}"))
        assert_401(resp, "signature")
        flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
        assert_401(
            await http.get("/api/v1/me", headers=bearer(f"{header}.{payload}.{flipped}")),
            "signature",
        )


async def test_revoked_token(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        old = await login(http, "ana", "secret-123")
        assert (await http.get("/api/v1/me", headers=bearer(old))).status_code == 200
        resp = await http.post("/api/v1/users/ana/revoke-tokens", headers=bearer(admin))
        assert resp.status_code == 200 and resp.json()["tokens_valid_after"] is not None
        assert_401(await http.get("/api/v1/me", headers=bearer(old)), "revoked")
        new = await login(http, "ana", "secret-123")
        assert (await http.get("/api/v1/me", headers=bearer(new))).status_code == 200
        missing = await http.post("/api/v1/users/ghost/revoke-tokens", headers=bearer(admin))
    assert missing.status_code == 404
    assert "ghost" in missing.json()["detail"]


async def test_basic_accepted(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        ok = await http.get("/api/v1/me", auth=("ana", "secret-123"))
        assert ok.status_code == 200 and ok.json()["id"] == "ana"
        assert_401(
            await http.get("/api/v1/me", auth=("ana", "secret-1234")),
            "wrong user name or password",
        )


async def test_disabled_user_is_refused_at_once(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        token = await login(http, "ana", "secret-123")
        resp = await http.patch("/api/v1/users/ana", json={"active": False}, headers=bearer(admin))
        assert resp.status_code == 200 and resp.json()["active"] is False
        assert_401(await http.get("/api/v1/me", headers=bearer(token)), "user disabled")
        assert_401(await http.get("/api/v1/me", auth=("ana", "secret-123")), "user disabled")
        refused = await http.post(
            "/api/v1/auth/token", data={"username": "ana", "password": "secret-123"}
        )
        assert_401(refused, "user disabled")
        myself = await http.patch(
            "/api/v1/users/admin", json={"active": False}, headers=bearer(admin)
        )
    assert myself.status_code == 409


async def test_sync_gateway_uses_the_same_credentials(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        admin = await login(http, *ADMIN)
        await create_user(http, admin, "ana")
        await create_user(http, admin, "rui")
        token = await login(http, "ana", "secret-123")
        sync_url = (await http.get("/api/v1/me", headers=bearer(token))).json()["sync_url"]
        assert (await http.get(sync_url, headers=bearer(token))).status_code == 200
        assert (await http.get(sync_url, auth=("ana", "secret-123"))).status_code == 200
        refused = await http.get(sync_url)
        assert refused.status_code == 401
        assert refused.json() == {"error": "unauthorized", "reason": "no credentials"}
        other = await http.get(sync_url.replace("rep_ana", "rep_rui"), headers=bearer(token))
    assert other.status_code == 403
