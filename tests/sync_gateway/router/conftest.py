"""Fixtures for router tests: the seeded world of ``router_world`` and a Router on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from router_world import FIELD, MASTER

from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases
from sync_gateway.router import Router


@pytest.fixture
async def world(couch: CouchClient, dbs: Databases) -> Databases:
    await ensure_databases(couch, dbs)
    await couch.bulk_docs(dbs.master, MASTER)
    await couch.bulk_docs(dbs.field, FIELD)
    for user in ("alice", "bob"):
        await couch.create_db(dbs.rep(user))
    return dbs


@pytest.fixture
async def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
async def router(
    couch: CouchClient, world: Databases, events: list[tuple[str, dict[str, Any]]]
) -> AsyncIterator[Router]:
    r = Router(couch, world, on_event=lambda k, p: events.append((k, p)), page_size=50,
               poll_interval_s=0.05, rescan_interval_s=0.2, heartbeat_ms=1000)  # fmt: skip
    yield r
    await r.stop()
