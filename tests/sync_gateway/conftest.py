"""Fixtures for gateway tests: a running service with field users, and phones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.phone import Phone
from support.world import World, add_user, login


@pytest.fixture
async def world(service: Any) -> World:
    """The service with rep alice, rep carol, engineer bob and manager max."""
    admin = await login(service.url, "admin", "admin-pass")
    w = World(service, admin)
    for user_id, role in (
        ("alice", "rep"),
        ("carol", "rep"),
        ("bob", "engineer"),
        ("max", "manager"),
    ):
        await add_user(w, user_id, role)
    return w


@pytest.fixture
async def phone(tmp_path: Path) -> Any:
    p = Phone()
    await p.start(tmp_path / "phone")
    yield p
    await p.close()


@pytest.fixture
async def phone2(tmp_path: Path) -> Any:
    p = Phone()
    await p.start(tmp_path / "phone2")
    yield p
    await p.close()
