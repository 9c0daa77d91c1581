"""Demo data: deterministic, valid, idempotent, and its users can log in."""

from __future__ import annotations

import random

import httpx

from field_api.demo import DEMO_LOGINS, build_master, seed_demo
from mobile_schema import validate_document
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases


def test_the_same_seed_builds_the_same_world() -> None:
    a = build_master(random.Random(7), 30, 40)
    b = build_master(random.Random(7), 30, 40)
    c = build_master(random.Random(8), 30, 40)
    assert a == b
    assert a["accounts"] != c["accounts"]
    assert len(a["accounts"]) == 30 and len(a["products"]) == 40
    assert len(a["territories"]) == 3 and len(a["price_lists"]) == 3
    assert {acc["territory_id"] for acc in a["accounts"]} == {
        "territory:north",
        "territory:south",
        "territory:west",
    }
    for docs in a.values():
        for doc in docs:
            validate_document(doc)


async def test_seed_is_idempotent_and_users_log_in(
    couch: CouchClient, dbs: Databases, service_factory
) -> None:  # type: ignore[no-untyped-def]
    first = await seed_demo(couch, dbs, seed=1, accounts=12, products=20)
    assert first.users == 6 and first.accounts == 12 and first.products == 20
    second = await seed_demo(couch, dbs, seed=1, accounts=12, products=20)
    assert second.users == 0
    info = await couch.db_info(dbs.master)
    assert info["doc_count"] == 20 + 3 + 3 + 12 + 18
    assert await couch.db_exists(dbs.rep("ana"))
    service = await service_factory()
    user, password = DEMO_LOGINS[0]
    async with httpx.AsyncClient(base_url=service.url) as http:
        resp = await http.post("/api/v1/auth/token", data={"username": user, "password": password})
    assert resp.status_code == 200


async def test_serve_with_seed_demo_loads_data_once(service_factory) -> None:  # type: ignore[no-untyped-def]
    service = await service_factory(seed_demo=True)
    rt = service.runtime
    count = (await rt.couch.db_info(rt.dbs.master))["doc_count"]
    assert count > 2000
    async with httpx.AsyncClient(base_url=service.url) as http:
        assert (await http.get("/healthz")).status_code == 200
