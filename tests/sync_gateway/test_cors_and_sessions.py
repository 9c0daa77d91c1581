"""CORS on /sync and /api, and CouchDB-style cookie sessions at /sync/_session, over HTTP.

The browser itself is in test_browser_apps.py; these pin the headers and the refusals exactly.
httpx keeps ``Secure`` cookies away from http URLs, so the cookie is sent by hand here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from polling import wait_until
from support.world import World, add_user, login

from field_api.settings import Settings
from mobile_schema import sample

APP = "http://localhost:5173"
OTHER = "https://evil.example"


@pytest.fixture
async def cors_world(service_factory: Any) -> World:
    service = await service_factory(cors_origins=[APP, "capacitor://localhost"])
    w = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in (("alice", "rep"), ("carol", "rep")):
        await add_user(w, user_id, role)
    return w


def cors_headers(resp: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


def preflight(method: str, headers: str, origin: str = APP) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def sign_in(
    world: World, name: str = "alice", password: str | None = None, **kw: Any
) -> httpx.Response:
    password = password if password is not None else world.users[name].password
    async with world.http() as http:
        return await http.post("/sync/_session", json={"name": name, "password": password}, **kw)


def cookie_of(resp: httpx.Response) -> str:
    header = resp.headers["set-cookie"]
    name, _, rest = header.partition("=")
    assert name == "AuthSession"
    return rest.split(";")[0]


def with_cookie(value: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"AuthSession={value}", **headers}


# -- CORS ----------------------------------------------------------------------------------


async def test_a_preflight_from_a_listed_origin_is_answered_like_couchdb(
    cors_world: World,
) -> None:
    async with cors_world.http() as http:
        for url, method in [
            ("/sync/rep_alice/_bulk_docs", "POST"),
            ("/sync/rep_alice/_local/checkpoint", "PUT"),
            ("/sync/_session", "DELETE"),
            ("/api/v1/auth/token", "POST"),
            ("/api/v1/users/alice", "PATCH"),
        ]:
            resp = await http.options(
                url, headers=preflight(method, "authorization, content-type, x-device-id")
            )
            assert resp.status_code == 204, (url, resp.text)
            assert cors_headers(resp) == {
                "access-control-allow-origin": APP,
                "access-control-allow-credentials": "true",
                "access-control-allow-methods": "GET, HEAD, POST, PUT, DELETE, PATCH",
                "access-control-allow-headers": "authorization, content-type, x-device-id",
                "access-control-max-age": "600",
            }
            assert resp.headers["vary"] == "Origin"


async def test_requests_from_a_listed_origin_carry_the_origin_and_credentials(
    cors_world: World,
) -> None:
    alice = cors_world.users["alice"]
    async with cors_world.http("alice", headers={"Origin": "capacitor://localhost"}) as http:
        for resp in [
            await http.get(f"/sync/{cors_world.dbs.rep('alice')}"),
            await http.get("/api/v1/me"),
            await http.get("/sync/rep_carol"),  # an error answer is readable too
        ]:
            assert resp.headers["access-control-allow-origin"] == "capacitor://localhost"
            assert resp.headers["access-control-allow-credentials"] == "true"
            assert "retry-after" in resp.headers["access-control-expose-headers"]
            assert "Origin" in resp.headers["vary"]
    async with cors_world.http(headers={"Origin": APP, "Accept-Encoding": "gzip"}) as http:
        resp = await http.get(
            f"/sync/{cors_world.dbs.rep('alice')}/_all_docs", headers=alice.headers
        )
        # an existing Vary is extended, not replaced
        vary = resp.headers.get("vary", "")
        assert "Origin" in vary
        assert resp.headers["access-control-allow-origin"] == APP


async def test_an_unlisted_origin_gets_no_cors_headers(cors_world: World) -> None:
    async with cors_world.http("alice", headers={"Origin": OTHER}) as http:
        for resp in [
            await http.get(f"/sync/{cors_world.dbs.rep('alice')}"),
            await http.get("/api/v1/me"),
            await http.options(
                "/sync/rep_alice/_bulk_docs", headers=preflight("POST", "content-type", OTHER)
            ),
            await http.options("/api/v1/me", headers=preflight("GET", "authorization", OTHER)),
        ]:
            assert cors_headers(resp) == {}, resp.request.url
            assert resp.status_code != 204
    # listed origin, but asking for a method or a header that is not allowed: not a preflight
    async with cors_world.http() as http:
        for asked in [preflight("POST", "x-evil"), preflight("TRACE", "")]:
            resp = await http.options("/sync/rep_alice/_bulk_docs", headers=asked)
            assert cors_headers(resp) == {}
        # an origin differing only in port or scheme is another origin
        for origin in ["http://localhost:5174", "https://localhost:5173", "http://LOCALHOST:5173"]:
            resp = await http.get("/sync/", headers={"Origin": origin})
            assert cors_headers(resp) == {}, origin
        # and outside /sync and /api nothing is added
        resp = await http.get("/healthz", headers={"Origin": APP})
        assert cors_headers(resp) == {}


async def test_no_cors_at_all_when_no_origin_is_configured(world: World) -> None:
    async with world.http("alice", headers={"Origin": APP}) as http:
        resp = await http.get(f"/sync/{world.dbs.rep('alice')}")
        assert resp.status_code == 200
        assert cors_headers(resp) == {}
        resp = await http.options("/sync/rep_alice/_bulk_docs", headers=preflight("POST", ""))
        assert cors_headers(resp) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "http://localhost:5173, capacitor://localhost",
            ["http://localhost:5173", "capacitor://localhost"],
        ),
        ('["https://App.Example.com:443/"]', ["https://app.example.com"]),
        ("", []),
    ],
)
def test_origins_setting_is_read_as_exact_origins(
    value: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDSYNC_CORS_ORIGINS", value)
    assert Settings().cors_origins == expected


@pytest.mark.parametrize("value", ["*", "https://*.example.com", "https://app.example.com/path"])
def test_wildcards_and_paths_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        Settings(cors_origins=value)  # type: ignore[arg-type]


# -- cookie sessions -------------------------------------------------------------------------


async def test_sign_in_sets_a_couchdb_style_session_cookie(cors_world: World) -> None:
    resp = await sign_in(cors_world, headers={"Origin": APP})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"ok": True, "name": "alice", "roles": ["rep"]}
    attributes = [a.strip() for a in resp.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("AuthSession=")
    assert "Path=/sync" in attributes
    assert "HttpOnly" in attributes
    assert "SameSite=None" in attributes
    assert "Secure" in attributes
    assert "Partitioned" in attributes
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("Max-Age="))
    assert 43_190 <= max_age <= 43_200  # the token's lifetime (FIELDSYNC_TOKEN_TTL_S)
    assert resp.headers["access-control-allow-origin"] == APP
    cookie = cookie_of(resp)
    async with cors_world.http() as http:
        who = (await http.get("/sync/_session", headers=with_cookie(cookie))).json()
        assert who["userCtx"] == {"name": "alice", "roles": ["rep"]}
        assert who["info"]["authenticated"] == "cookie"
        assert who["info"]["sync_url"] == cors_world.users["alice"].sync_url
        db = cors_world.dbs.rep("alice")
        await cors_world.couch.put(db, sample("product"))
        changes = await http.get(f"/sync/{db}/_changes", headers=with_cookie(cookie))
        assert changes.status_code == 200
        assert len(changes.json()["results"]) == 1
        # the cookie is alice's: not carol's database
        resp = await http.get("/sync/rep_carol", headers=with_cookie(cookie))
        assert resp.status_code == 403
        # not accepted by the API (Path=/sync, and /api is Bearer only)
        resp = await http.get("/api/v1/me", headers=with_cookie(cookie))
        assert resp.status_code == 401
        nobody = (await http.get("/sync/_session")).json()
        assert nobody["userCtx"] == {"name": None, "roles": []}


async def test_sign_in_by_form_and_its_failures(cors_world: World) -> None:
    async with cors_world.http() as http:
        resp = await http.post(
            "/sync/_session", data={"name": "alice", "password": "alice-password"}
        )
        assert resp.status_code == 200
        assert resp.headers["set-cookie"].startswith("AuthSession=")
        resp = await http.post("/sync/_session", data={"name": "alice", "password": "nope"})
        assert resp.status_code == 401
        assert resp.json()["error"] == "unauthorized"
        assert "set-cookie" not in resp.headers
        assert "www-authenticate" not in resp.headers  # no browser password dialog
        resp = await http.post("/sync/_session", json={"name": "alice"})
        assert resp.status_code == 400
    # another site cannot sign the browser in (Sync Gateway's login_origin)
    resp = await sign_in(cors_world, headers={"Origin": OTHER})
    assert resp.status_code == 403
    assert "set-cookie" not in resp.headers
    # the service's own pages may
    resp = await sign_in(cors_world, headers={"Origin": cors_world.url})
    assert resp.status_code == 200


async def test_the_cookie_is_refused_from_another_site(cors_world: World) -> None:
    """A forged request (a form post or fetch from another site) carries the cookie and that
    site's Origin: refused before anything is read or written."""
    cookie = cookie_of(await sign_in(cors_world))
    db = cors_world.dbs.rep("alice")
    body = '{"docs": [{"_id": "order:forged", "type": "order"}]}'
    async with cors_world.http() as http:
        resp = await http.post(
            f"/sync/{db}/_bulk_docs",
            content=body,
            headers=with_cookie(cookie, Origin=OTHER, **{"Content-Type": "text/plain"}),
        )
        assert resp.status_code == 403
        assert "FIELDSYNC_CORS_ORIGINS" in resp.json()["reason"]
        resp = await http.get(f"/sync/{db}", headers=with_cookie(cookie, Origin=APP))
        assert resp.status_code == 200
    assert await cors_world.couch.get_or_none(db, "order:forged") is None


async def test_the_cookie_is_refused_after_sign_out(cors_world: World) -> None:
    first = cookie_of(await sign_in(cors_world))
    second = cookie_of(await sign_in(cors_world))
    db = cors_world.dbs.rep("alice")
    async with cors_world.http() as http:
        resp = await http.delete("/sync/_session", headers=with_cookie(first))
        assert resp.json() == {"ok": True}
        cleared = resp.headers["set-cookie"]
        assert cleared.startswith("AuthSession=;")
        assert "Max-Age=0" in cleared
        assert "Path=/sync" in cleared
        resp = await http.get(f"/sync/{db}", headers=with_cookie(first))
        assert resp.status_code == 401
        assert "signed out" in resp.json()["reason"]
        who = (await http.get("/sync/_session", headers=with_cookie(first))).json()
        assert who["userCtx"]["name"] is None
        # the user's other sessions and tokens go on
        assert (await http.get(f"/sync/{db}", headers=with_cookie(second))).status_code == 200
        resp = await http.get(f"/sync/{db}", headers=cors_world.users["alice"].headers)
        assert resp.status_code == 200
        # signing out without a (valid) cookie is fine, as in CouchDB
        assert (await http.delete("/sync/_session")).json() == {"ok": True}


async def test_the_cookie_is_refused_after_revocation_and_deactivation(
    cors_world: World,
) -> None:
    db = cors_world.dbs.rep("alice")
    admin = {"Authorization": f"Bearer {cors_world.admin_token}"}
    async with cors_world.http() as http:
        cookie = cookie_of(await sign_in(cors_world))
        assert (await http.get(f"/sync/{db}", headers=with_cookie(cookie))).status_code == 200
        resp = await http.post("/api/v1/users/alice/revoke-tokens", headers=admin)
        assert resp.status_code == 200
        resp = await http.get(f"/sync/{db}", headers=with_cookie(cookie))
        assert resp.status_code == 401
        assert "revoked" in resp.json()["reason"]

        cookie = cookie_of(await sign_in(cors_world))
        assert (await http.get(f"/sync/{db}", headers=with_cookie(cookie))).status_code == 200
        resp = await http.patch("/api/v1/users/alice", json={"active": False}, headers=admin)
        assert resp.status_code == 200
        resp = await http.get(f"/sync/{db}", headers=with_cookie(cookie))
        assert resp.status_code == 401
        assert "disabled" in resp.json()["reason"]


async def test_the_cookie_expires_with_the_token(service_factory: Any) -> None:
    service = await service_factory(token_ttl_s=2)
    w = World(service, await login(service.url, "admin", "admin-pass"))
    await add_user(w, "alice", "rep")
    resp = await sign_in(w)
    assert "Max-Age=" in resp.headers["set-cookie"]
    cookie = cookie_of(resp)
    db = w.dbs.rep("alice")
    async with w.http() as http:
        assert (await http.get(f"/sync/{db}", headers=with_cookie(cookie))).status_code == 200

        async def refused() -> Any:
            resp = await http.get(f"/sync/{db}", headers=with_cookie(cookie))
            return resp.status_code == 401 and "expired" in resp.json()["reason"]

        await wait_until(refused, timeout=10, message="the cookie to expire")


# -- local design documents -------------------------------------------------------------------


async def test_revs_diff_never_asks_for_design_documents(cors_world: World) -> None:
    db = cors_world.dbs.rep("alice")
    async with cors_world.http("alice") as http:
        resp = await http.post(
            f"/sync/{db}/_revs_diff",
            json={"_design/app_queries": ["1-abc"], "order:o1": ["1-def"]},
        )
        assert resp.status_code == 200
        assert resp.json() == {"order:o1": {"missing": ["1-def"]}}
        resp = await http.post(f"/sync/{db}/_revs_diff", json={"_design/idx": ["1-abc"]})
        assert resp.json() == {}
        # other reserved ids are still refused
        resp = await http.post(f"/sync/{db}/_revs_diff", json={"_foo": ["1-abc"]})
        assert resp.status_code == 403
