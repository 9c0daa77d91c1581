"""/sync hardening: key ranges on _all_docs as on CouchDB, garbage parameters, X-Device-Id and
its cap, attachments that cannot run as pages, throttled Basic sign-ins, revocation."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from polling import wait_until
from support.phone import Phone
from support.world import World, add_user, login

from sync_gateway.auth.devices import MAX_DEVICES_PER_USER

DOC_IDS = ["a:1", "b:1", "b:2", "b:3", "c:1"]


@pytest.fixture
async def quiet(service_factory: Any) -> World:
    """A service without workers (nothing else writes the rep database) and rep alice."""
    service = await service_factory(run_workers=False, activity_flush_s=3600)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    await add_user(world, "alice", "rep")
    return world


async def _seed(world: World) -> str:
    """Documents written straight into alice's database (no validation: ids are the point)."""
    db = world.dbs.rep("alice")
    docs = [{"_id": i, "n": n} for n, i in enumerate(DOC_IDS)]
    docs.append({"_id": "_design/hidden", "views": {}})
    await world.couch.bulk_docs(db, docs)
    return db


def _ids(result: dict[str, Any]) -> list[str]:
    return [row.get("id") or row["key"] for row in result["rows"]]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"startkey": "b:", "endkey": "b:\ufff0"}, ["b:1", "b:2", "b:3"]),
        ({"startkey": "b:2", "endkey": "c:1", "inclusive_end": False}, ["b:2", "b:3"]),
        ({"startkey": "b:\ufff0", "endkey": "b:", "descending": True}, ["b:3", "b:2", "b:1"]),
        ({"key": "c:1"}, ["c:1"]),
        ({"keys": ["c:1", "a:1"]}, ["c:1", "a:1"]),
        ({"startkey": "a:", "limit": 2, "skip": 1}, ["b:1", "b:2"]),
    ],
)
async def test_pouchdb_all_docs_key_ranges_through_the_gateway_as_on_couchdb(
    quiet: World, couch_url: str, phone: Phone, options: dict[str, Any], expected: list[str]
) -> None:
    db = await _seed(quiet)
    alice = quiet.users["alice"]
    through_gateway = await phone.remote_all_docs(alice.sync_url, headers=alice.headers, **options)
    direct = await phone.remote_all_docs(f"{couch_url}/{db}", **options)
    assert _ids(through_gateway) == expected
    assert _ids(direct) == expected  # CouchDB (or PouchDB Server) itself says the same
    assert through_gateway["rows"] == direct["rows"]


@pytest.mark.parametrize(
    "query",
    [
        "startkey=b:",  # not JSON
        'startkey="b:',
        "endkey=" + "[" * 5000 + "]" * 5000,  # deep nesting
        'key="\\ud800"',  # a lone surrogate
        "startkey=12",  # JSON, but not an id
        "keys={}",
        'keys=["a",1]',
        "limit=-1",
        "limit=ten",
        "skip=1e9",
        "include_docs=yes",
        "descending=1",
    ],
)
async def test_garbage_all_docs_parameters_are_400(quiet: World, query: str) -> None:
    await _seed(quiet)
    async with quiet.http("alice") as http:
        resp = await http.get(f"/sync/{quiet.dbs.rep('alice')}/_all_docs?{query}")
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "bad_request"


@pytest.mark.parametrize("query", ["limit=x", "limit=-1", "doc_ids=[[[", "style=x", "feed=x"])
async def test_garbage_changes_parameters_are_400(quiet: World, query: str) -> None:
    async with quiet.http("alice") as http:
        resp = await http.get(f"/sync/{quiet.dbs.rep('alice')}/_changes?{query}")
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "bad_request"


@pytest.mark.parametrize("since", ["[" * 3000, "%ED%A0%80", "-1", "abc", "1e999"])
async def test_garbage_since_is_never_a_5xx(quiet: World, since: str) -> None:
    """``since`` is opaque (CouchDB 3's sequences are its own): passed on, never decoded here.
    CouchDB 3 answers 400 (``bad_request``, or ``unknown_error`` for a deeply nested one: a
    store quirk passed on as CouchDB sent it); PouchDB Server echoes it back; neither may break."""
    async with quiet.http("alice") as http:
        resp = await http.get(f"/sync/{quiet.dbs.rep('alice')}/_changes?since={since}")
    assert resp.status_code in (200, 400), resp.text
    body = resp.json()
    assert "results" in body if resp.status_code == 200 else isinstance(body.get("error"), str)


# -- X-Device-Id ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["<script>alert(1)</script>", "a" * 129, "dev 7", "dev/7", "é"])
async def test_x_device_id_follows_the_pattern_of_me_devices(quiet: World, device: str) -> None:
    async with quiet.http("alice") as http:
        resp = await http.get(
            f"/sync/{quiet.dbs.rep('alice')}/_changes",
            headers={"X-Device-Id": device.encode()},
        )
        me = await http.post(
            "/api/v1/me/devices", json={"device_id": device, "platform": "android"}
        )
    assert resp.status_code == 400 and "X-Device-Id" in resp.json()["reason"]
    assert me.status_code == 422


async def test_device_records_per_user_are_capped(quiet: World) -> None:
    recorder = quiet.service.services.gateway.activity
    async with quiet.http("alice") as http:
        for n in range(MAX_DEVICES_PER_USER + 5):
            resp = await http.get(
                f"/sync/{quiet.dbs.rep('alice')}/_changes",
                headers={"X-Device-Id": f"phone-{n}", "User-Agent": "App/1 <b>bold</b>"},
            )
            assert resp.status_code == 200
        await recorder.flush()
        devices = (await http.get("/api/v1/me/devices")).json()
        assert len(devices) == MAX_DEVICES_PER_USER
        assert all(d["user_agent"] == "App/1 bbold/b" for d in devices)  # no markup kept
        refused = await http.post(
            "/api/v1/me/devices", json={"device_id": "one-more", "platform": "ios"}
        )
        assert refused.status_code == 422 and "DELETE" in refused.json()["detail"]
        assert (await http.delete("/api/v1/me/devices/phone-0")).status_code == 204
        assert (await http.delete("/api/v1/me/devices/phone-0")).status_code == 404
        added = await http.post(
            "/api/v1/me/devices", json={"device_id": "one-more", "platform": "ios"}
        )
        assert added.status_code == 201
        await http.get(
            f"/sync/{quiet.dbs.rep('alice')}/_changes", headers={"X-Device-Id": "and-another"}
        )
        await recorder.flush()
        assert len((await http.get("/api/v1/me/devices")).json()) == MAX_DEVICES_PER_USER


# -- attachments --------------------------------------------------------------------------------


async def test_attachments_are_never_sniffed_and_downloaded_unless_plain_images(
    quiet: World,
) -> None:
    db = quiet.dbs.rep("alice")
    page = base64.b64encode(b"<html><script>steal()</script></html>").decode()
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    await quiet.couch.put(
        db,
        {
            "_id": "visit_note:n1",
            "type": "visit_note",
            "author_id": "alice",
            "_attachments": {
                "page.html": {"content_type": "text/html", "data": page},
                "photo.png": {"content_type": "image/png", "data": png},
                "logo.svg": {"content_type": "image/svg+xml", "data": page},
            },
        },
    )
    async with quiet.http("alice") as http:
        html = await http.get(f"/sync/{db}/visit_note:n1/page.html")
        image = await http.get(f"/sync/{db}/visit_note:n1/photo.png")
        svg = await http.get(f"/sync/{db}/visit_note:n1/logo.svg")
    for resp in (html, image, svg):
        assert resp.status_code == 200
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in resp.headers["content-security-policy"]
    assert html.headers["content-disposition"] == "attachment"
    assert svg.headers["content-disposition"] == "attachment"
    assert "content-disposition" not in image.headers
    assert html.content.startswith(b"<html>")  # served, as the bytes they are


# -- sign-in throttle and revocation --------------------------------------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_wrong_basic_passwords_on_sync_are_throttled(quiet: World) -> None:
    db_url = f"/sync/{quiet.dbs.rep('alice')}"
    async with quiet.http() as http:
        statuses = [
            (await http.get(db_url, headers=_basic("alice", f"guess-{n}"))).status_code
            for n in range(6)
        ]
        blocked = await http.get(db_url, headers=_basic("alice", "alice-password"))
        other = await http.get(db_url, headers=quiet.users["alice"].headers)  # Bearer
    assert statuses == [401] * 6
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "1"
    assert blocked.json()["error"] == "too_many_requests"
    assert "retry in 1 s" in blocked.json()["reason"]
    assert other.status_code == 200  # a signed-in device is never held back


async def _token_status(base: str, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base) as http:
        return await http.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )


async def test_revocation_on_password_role_and_active_changes_is_prompt_everywhere(
    quiet: World, service_factory: Any
) -> None:
    # a second process on the same databases, which has the token's claims in its cache
    other = await service_factory(run_workers=False)
    alice = quiet.users["alice"]
    admin = {"Authorization": f"Bearer {quiet.admin_token}"}
    db_path = f"/sync/{quiet.dbs.rep('alice')}"

    async def status(base: str, token: str) -> int:
        async with httpx.AsyncClient(base_url=base) as http:
            return (
                await http.get(db_path, headers={"Authorization": f"Bearer {token}"})
            ).status_code

    for change in ({"password": "new-password-1"}, {"role": "engineer"}, {"active": False}):
        token = (await _token_status(quiet.url, "alice", _password_now(alice))).json()[
            "access_token"
        ]
        assert await status(quiet.url, token) == 200
        assert await status(str(other.url), token) == 200  # now cached there too
        async with httpx.AsyncClient(base_url=quiet.url, headers=admin) as http:
            resp = await http.patch("/api/v1/users/alice", json=change)
            assert resp.status_code == 200, resp.text
        # at once in the process that made the change ...
        assert await status(quiet.url, token) == 401
        # ... and within the user cache's 5 s in the other one (not the claims cache's 60 s)
        await wait_until(
            lambda token=token: _is(status(str(other.url), token), 401),
            timeout=10,
            message=f"the other process to refuse a token after {change}",
        )
        if "password" in change:
            alice.password = change["password"]
    async with httpx.AsyncClient(base_url=quiet.url, headers=admin) as http:
        assert (await http.patch("/api/v1/users/alice", json={"active": True})).status_code == 200
    async with httpx.AsyncClient(base_url=quiet.url) as http:
        resp = await http.get(db_path, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and "revoked" in resp.json()["reason"]  # not back to life


def _password_now(user: Any) -> str:
    return str(user.password)


async def _is(awaitable: Any, expected: int) -> bool:
    return bool(await awaitable == expected)
