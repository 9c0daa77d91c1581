"""The embedded PouchDB Server: started, restarted when it dies, and its 401 mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from polling import wait_until

from sync_gateway.config import REPO_ROOT
from sync_gateway.couch import CouchClient, CouchUnauthorized, CouchUnavailable
from sync_gateway.couch.embedded import EmbeddedCouch


@pytest.fixture
async def private_server(tmp_path: Path) -> AsyncIterator[EmbeddedCouch]:
    """A server of this test's own, with a second admin, so it can be broken without harming
    others."""
    server = EmbeddedCouch(REPO_ROOT / "couchdb_embedded" / "node_modules", tmp_path)
    await server.start()
    async with httpx.AsyncClient() as http:
        anonymous = await http.put(f"{server.url}/_config/admins/admin", content=b'"secret"')
        assert anonymous.status_code == 401  # no admin party
        resp = await http.put(f"{server.admin_url}/_config/admins/admin", content=b'"secret"')
        assert resp.status_code == 200
    yield server
    await server.stop()


async def test_wrong_credentials_are_unauthorized(private_server: EmbeddedCouch) -> None:
    url = private_server.url.replace("http://", "http://admin:wrong@")
    client = CouchClient(url)
    with pytest.raises(CouchUnauthorized) as err:
        await client.all_dbs()
    assert err.value.error == "unauthorized"
    await client.aclose()
    good = CouchClient(private_server.url.replace("http://", "http://admin:secret@"))
    assert "_users" in await good.all_dbs()
    await good.aclose()


async def test_a_crashed_server_is_restarted_with_its_data(private_server: EmbeddedCouch) -> None:
    admin = CouchClient(private_server.url.replace("http://", "http://admin:secret@"))
    await admin.create_db("keep")
    await admin.put("keep", {"_id": "a", "v": 1})
    first_pid = private_server.pid
    # PouchDB Server 4.2.0 crashes on an unauthenticated database creation once an admin exists:
    # one of the request shapes the gateway must never forward.
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.TransportError):
            await http.put(f"{private_server.url}/crashme")
    await wait_until(
        lambda: private_server.restarts >= 1 and private_server.available,
        timeout=30,
        message="the supervisor to restart PouchDB Server",
    )
    assert private_server.pid != first_pid
    assert (await admin.get("keep", "a"))["v"] == 1
    await admin.aclose()


async def test_killed_server_is_unavailable_then_back(private_server: EmbeddedCouch) -> None:
    client = CouchClient(private_server.url.replace("http://", "http://admin:secret@"))
    await private_server.kill()
    with pytest.raises(CouchUnavailable):
        await client.server_info()
    await wait_until(
        lambda: private_server.restarts == 1 and private_server.available,
        timeout=30,
        message="the supervisor to restart PouchDB Server",
    )
    assert (await client.server_info())["version"]
    await client.aclose()
