"""Store errors on /api are mapped once (field_api/problems.py), never a plain-text 500.

- CouchDB stopped (a PouchDB Server of this test's own, so no other test loses its store):
  reads and writes answer 503 ``application/problem+json`` with ``Retry-After``; once it is
  back, the same requests succeed again.
- A write that still loses CouchDB's revision race after the store's own retries (e.g.
  ``UserStore.update`` running out): 409 problem+json telling the caller to reload and retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from support.world import login

from field_api import problems
from sync_gateway.config import REPO_ROOT
from sync_gateway.couch import CouchClient, CouchConflict, CouchNotFound, update_with_retry
from sync_gateway.couch.embedded import EmbeddedCouch
from sync_gateway.databases import Databases


@pytest.fixture
async def private_couch(tmp_path: Path) -> AsyncIterator[EmbeddedCouch]:
    """A PouchDB Server of this test's own, so stopping it harms no other test."""
    server = EmbeddedCouch(REPO_ROOT / "couchdb_embedded" / "node_modules", tmp_path / "couch")
    await server.start()
    yield server
    await server.stop()


def assert_unavailable_problem(resp: httpx.Response) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"] == problems.PROBLEM
    assert int(resp.headers["retry-after"]) > 0
    body = resp.json()
    assert body["status"] == 503 and "retry in" in body["detail"]


async def test_couchdb_stopped_gives_503_problem_with_retry_after(
    service_factory: Any, private_couch: EmbeddedCouch, tmp_path: Path
) -> None:
    service = await service_factory(couchdb_url=private_couch.admin_url, run_workers=False)
    token = await login(service.url, "admin", "admin-pass")
    headers = {"Authorization": f"Bearer {token}"}
    product = [{"_id": "product:p1", "sku": "p1", "name": "Pen", "unit": "pc", "active": True}]
    async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as http:
        assert (await http.get("/api/v1/orders")).status_code == 200
        assert (await http.get("/api/v1/team")).status_code == 200

        await private_couch.stop()
        assert_unavailable_problem(await http.get("/api/v1/orders"))
        assert_unavailable_problem(await http.get("/api/v1/team"))
        assert_unavailable_problem(await http.put("/api/v1/products", json=product))

        # the same data folder again: the service finds its store back without a restart
        again = EmbeddedCouch(
            REPO_ROOT / "couchdb_embedded" / "node_modules",
            tmp_path / "couch",
            port=private_couch.port,
        )
        await again.start()
        try:
            assert (await http.get("/api/v1/orders")).status_code == 200
        finally:
            await again.stop()


async def test_conflict_after_retries_gives_409_saying_what_to_do() -> None:
    app = FastAPI()
    problems.install(app)

    @app.post("/users/{user_id}")
    async def update(user_id: str) -> None:
        raise CouchConflict(409, "conflict", f"user {user_id} changed 5 times meanwhile")

    @app.get("/broken")
    async def broken() -> None:
        raise CouchNotFound(404, "not_found", "Database does not exist.", path="/fs_nope")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        resp = await http.post("/users/alice")
        assert resp.status_code == 409
        assert resp.headers["content-type"] == problems.PROBLEM
        detail = resp.json()["detail"]
        assert "user alice changed 5 times meanwhile" in detail and "reload" in detail

        resp = await http.get("/broken")
        assert resp.status_code == 500
        assert resp.headers["content-type"] == problems.PROBLEM
        assert "/fs_nope" not in resp.text  # the store's internals stay in the log


async def test_update_with_retry_running_out_gives_409(couch: CouchClient, dbs: Databases) -> None:
    """The real building block losing every round (someone else writes the user each time)
    ends as the same 409 problem, never a 500."""
    await couch.create_db(dbs.ops)
    await couch.put(dbs.ops, {"_id": "user:alice", "name": "Alice"})

    async def rename(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        assert doc is not None
        await couch.put(dbs.ops, {**doc, "seen": doc.get("seen", 0) + 1})  # the other writer
        return {**doc, "name": "Alice B."}

    app = FastAPI()
    problems.install(app)

    @app.post("/users/{user_id}")
    async def update(user_id: str) -> None:
        await update_with_retry(couch, dbs.ops, f"user:{user_id}", rename, attempts=3)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        resp = await http.post("/users/alice")
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"] == problems.PROBLEM
    detail = resp.json()["detail"]
    assert "user:alice changed 3 times" in detail and "reload" in detail
    assert (await couch.get(dbs.ops, "user:alice"))["name"] == "Alice"
