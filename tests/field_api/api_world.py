"""Fixtures for the manager and back-office API tests (imported by name, not a conftest).

``api``: a running service (router off: these tests look at fs_master / fs_field only) with
manager max, back office olga, reps alice and carol, engineer bob and the admin's token.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.world import World, add_user, login

PROBLEM = "application/problem+json"
USERS = (
    ("alice", "rep"),
    ("carol", "rep"),
    ("bob", "engineer"),
    ("max", "manager"),
    ("olga", "backoffice"),
)


@pytest.fixture
async def api(service_factory: Any) -> World:
    service = await service_factory(run_workers=False)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    for user_id, role in USERS:
        await add_user(world, user_id, role)
    return world


def as_admin(world: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=world.url, headers={"Authorization": f"Bearer {world.admin_token}"}, timeout=30
    )


def assert_problem(resp: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The answer is problem+json with this status and a detail mentioning every word."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body
    return body


async def seed_accounts(world: World, *account_ids: str, **fields: Any) -> None:
    """Accounts (and nothing else) written through the back-office API."""
    async with world.http("olga") as http:
        resp = await http.put(
            "/api/v1/accounts",
            json=[{"_id": a, "name": f"Shop {a}", **fields} for a in account_ids],
        )
    assert resp.status_code == 200 and resp.json()["errors"] == 0, resp.text
