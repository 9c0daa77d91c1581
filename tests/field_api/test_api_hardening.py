"""/api hardening: throttled sign-ins, token answers not stored, security headers, and no
decoded parameter that can turn garbage into a 500."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from polling import wait_until

PROBLEM = "application/problem+json"


async def _token(http: httpx.AsyncClient, password: str, user: str = "admin") -> httpx.Response:
    return await http.post("/api/v1/auth/token", data={"username": user, "password": password})


async def test_wrong_passwords_get_429_with_a_growing_retry_after(service: Any) -> None:
    async with httpx.AsyncClient(base_url=service.url) as http:
        ok = await _token(http, "admin-pass")
        assert ok.status_code == 200
        assert ok.headers["cache-control"] == "no-store" and ok.headers["pragma"] == "no-cache"
        statuses = [(await _token(http, f"guess-{n}")).status_code for n in range(6)]
        assert statuses == [401] * 6
        blocked = await _token(http, "admin-pass")  # the right one, while blocked
        assert blocked.status_code == 429
        assert blocked.headers["content-type"].startswith(PROBLEM)
        assert blocked.headers["retry-after"] == "1"
        assert "too many failed sign-ins" in blocked.json()["detail"]

        async def allowed() -> bool:
            return (await _token(http, "guess-again")).status_code == 401  # counted: the 7th

        await wait_until(allowed, timeout=10, interval=0.2, message="the 1 s block to end")
        again = await _token(http, "admin-pass")
        assert again.status_code == 429 and again.headers["retry-after"] == "2"  # doubled
        # Basic on the API goes through the same throttle
        basic = base64.b64encode(b"admin:admin-pass").decode()
        me = await http.get("/api/v1/me", headers={"Authorization": f"Basic {basic}"})
        assert me.status_code == 429 and me.headers["retry-after"] in ("1", "2")
        # another user from the same address is not held back by admin's counter
        unknown = await _token(http, "whatever", user="nobody")
        assert unknown.status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/me", "/healthz", "/docs", "/openapi.json"])
async def test_security_headers_outside_sync(service: Any, path: str) -> None:
    async with httpx.AsyncClient(base_url=service.url) as http:
        resp = await http.get(path)
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["referrer-policy"] == "no-referrer"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBAGE_CURSORS = [
    "!!!",
    "not base64 at all ~",
    _b64(b"[" * 700),  # deep nesting (a RecursionError in the stdlib parser)
    _b64(b"[" * 2000),
    _b64(b'["\\ud800", "conflict_record:x"]'),  # a lone surrogate
    _b64(b'["2026-01-01T00:00:00.000Z", "\\udfff"]'),
    _b64(b'["yesterday", "conflict_record:x"]'),
    _b64(b'["2026-01-01T00:00:00.000Z", "user:admin"]'),
    _b64(b"{}"),
    _b64(b"[1, 2]"),
    _b64(b"\xff\xfe"),
    "x" * 5000,
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
async def test_garbage_conflict_cursors_are_4xx_problems(service: Any, cursor: str) -> None:
    async with httpx.AsyncClient(base_url=service.url) as http:
        token = (await _token(http, "admin-pass")).json()["access_token"]
        resp = await http.get(
            "/api/v1/conflicts",
            params={"cursor": cursor},
            headers={"Authorization": f"Bearer {token}"},
        )
    # 422: the API's answer to every invalid parameter (problems.BadInput, FastAPI's own)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    "since",
    [
        "!!!",
        "c1." + _b64(b"[" * 1400),
        "c1." + _b64(b'"\\ud800"'),
        "c1." + _b64(b"99999999999999999999999999"),
        "c1." + _b64(b"-5"),
        "c1." + _b64(b"[1]"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/orders/export"])
async def test_garbage_inbox_cursors_are_4xx_problems(service: Any, since: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=service.url) as http:
        token = (await _token(http, "admin-pass")).json()["access_token"]
        resp = await http.get(
            path, params={"since": since}, headers={"Authorization": f"Bearer {token}"}
        )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)


async def test_a_string_sequence_nobody_issued_is_never_a_5xx(service: Any) -> None:
    """A string inside a well-formed cursor is CouchDB's opaque sequence: CouchDB 3 refuses one it
    never issued (422 here), PouchDB Server reads it as the start; neither is a 5xx."""
    async with httpx.AsyncClient(base_url=service.url) as http:
        token = (await _token(http, "admin-pass")).json()["access_token"]
        resp = await http.get(
            "/api/v1/orders",
            params={"since": "c1." + _b64(b'"garbage-seq"')},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert resp.status_code in (200, 422), resp.text
