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
    assert first.visits == 4 and first.work_orders == 1
    second = await seed_demo(couch, dbs, seed=1, accounts=12, products=20)
    assert second.users == 0
    info = await couch.db_info(dbs.master)
    assert info["doc_count"] == 20 + 3 + 3 + 12 + 18
    assert await couch.db_exists(dbs.rep("ana"))
    service = await service_factory()
    roles = set()
    async with httpx.AsyncClient(base_url=service.url) as http:
        for user, password, role in DEMO_LOGINS:
            resp = await http.post(
                "/api/v1/auth/token", data={"username": user, "password": password}
            )
            assert resp.status_code == 200, user
            assert resp.json()["role"] == role, user  # not everyone a rep
            roles.add(role)
        erik = next(u for u, _, r in DEMO_LOGINS if r == "engineer")
        manager = next((u, p) for u, p, r in DEMO_LOGINS if r == "manager")
        token = (
            await http.post(
                "/api/v1/auth/token", data={"username": manager[0], "password": manager[1]}
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        visits = (await http.get(f"/api/v1/visits?assignee_id={erik}", headers=headers)).json()
        work = (await http.get(f"/api/v1/work-orders?assignee_id={erik}", headers=headers)).json()
    assert roles == {"rep", "engineer", "manager", "backoffice"}
    assert len(visits) == 4 and len(work) == 1
    assert visits[0]["work_order_id"] == work[0]["_id"]


async def test_serve_with_seed_demo_loads_data_once(service_factory) -> None:  # type: ignore[no-untyped-def]
    service = await service_factory(seed_demo=True)
    rt = service.runtime
    count = (await rt.couch.db_info(rt.dbs.master))["doc_count"]
    assert count > 2000
    async with httpx.AsyncClient(base_url=service.url) as http:
        assert (await http.get("/healthz")).status_code == 200
