"""Health: 200 when CouchDB answers, 503 with a reason when it does not."""

from __future__ import annotations

import httpx

from sync_gateway.couch.embedded import free_port


async def test_healthz_is_ok_and_databases_exist(service) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=service.url) as http:
        resp = await http.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "couchdb": "ok"}
    dbs = service.runtime.dbs
    assert await service.runtime.couch.db_exists(dbs.ops)


async def test_healthz_is_503_when_couchdb_is_down(service_factory) -> None:  # type: ignore[no-untyped-def]
    service = await service_factory()
    # point the running service at a port where nothing listens
    from sync_gateway.couch import CouchClient

    real = service.runtime.couch
    port = free_port()
    service.runtime.couch = CouchClient(f"http://admin:hunter2-secret@127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(base_url=service.url) as http:
            resp = await http.get("/healthz")
    finally:
        await service.runtime.couch.aclose()
        service.runtime.couch = real
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    # the reason, and nothing an outsider could use: no URL, port, credentials nor exception text
    assert resp.json() == {"status": "unavailable", "couchdb": "CouchDB does not answer"}
    assert str(port) not in resp.text and "hunter2" not in resp.text
