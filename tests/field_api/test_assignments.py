# ruff: noqa: F811  (fixtures imported from api_world are test parameters here)
"""Visits and work orders: create, read, list by assignee, reassign; roles and errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_world import api, as_admin, assert_problem, seed_accounts  # noqa: F401
from support.world import World

VISIT = {
    "assignee_id": "bob",
    "account_id": "account:a1",
    "kind": "service",
    "scheduled_start": "2024-05-02T08:00:00.000Z",
    "scheduled_end": "2024-05-02T09:00:00.000Z",
}
WORK_ORDER = {"account_id": "a1", "problem": "Leaks", "priority": "high"}


@pytest.fixture
async def shop(api: World) -> World:
    await seed_accounts(api, "account:a1")
    return api


async def test_a_visit_gets_a_generated_id_and_is_stored_in_fs_field(shop: World) -> None:
    async with shop.http("max") as http:
        resp = await http.post("/api/v1/visits", json=VISIT)
        assert resp.status_code == 201, resp.text
        visit = resp.json()
        assert re.fullmatch(r"visit:[0-9a-f]{32}", visit["_id"])
        stored = await shop.couch.get(shop.dbs.field, visit["_id"])
        assert stored == visit
        assert stored["status"] == "planned" and stored["type"] == "visit"
        assert stored["updated_by"] == "max" and stored["schema_version"] == 1
        one = await http.get(f"/api/v1/visits/{visit['_id']}")
        assert one.json() == visit
        # a second one gets another id
        other = (await http.post("/api/v1/visits", json={**VISIT, "assignee_id": "alice"})).json()
        assert other["_id"] != visit["_id"]
        everyone = (await http.get("/api/v1/visits")).json()
        assert sorted(v["_id"] for v in everyone) == sorted([visit["_id"], other["_id"]])
        bobs = (await http.get("/api/v1/visits", params={"assignee_id": "bob"})).json()
        assert [v["_id"] for v in bobs] == [visit["_id"]]
        assert (await http.get("/api/v1/visits", params={"assignee_id": "carol"})).json() == []


async def test_a_given_visit_id_is_used_once(shop: World) -> None:
    async with shop.http("max") as http:
        resp = await http.post("/api/v1/visits", json={**VISIT, "id": "v-1"})
        assert resp.status_code == 201 and resp.json()["_id"] == "visit:v-1"
        again = await http.post("/api/v1/visits", json={**VISIT, "id": "visit:v-1"})
        assert_problem(again, 409, "visit:v-1", "already exists")
        assert_problem(await http.get("/api/v1/visits/v-404"), 404, "visit:v-404")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"assignee_id": "max"}, ["'max' is a manager"]),
        ({"assignee_id": "ghost"}, ["'ghost' is not a user"]),
        ({"account_id": "account:ghost"}, ["no account account:ghost"]),
        ({"scheduled_end": "2024-05-02T07:00:00.000Z"}, ["scheduled_end"]),
        ({"scheduled_start": "tomorrow"}, ["scheduled_start"]),
        ({"kind": "party"}, ["kind"]),
        ({"rep_id": "bob"}, ["rep_id"]),
        ({"id": "bad id"}, ["bad id"]),
        ({"work_order_id": "work_order:ghost"}, ["work_order:ghost"]),
    ],
)
async def test_bad_visits_are_422(shop: World, change: dict[str, Any], words: list[str]) -> None:
    async with shop.http("max") as http:
        resp = await http.post("/api/v1/visits", json={**VISIT, **change})
    assert_problem(resp, 422, *words)
    assert (await shop.couch.all_docs(shop.dbs.field))["rows"] == []


async def test_reassigning_a_visit(shop: World) -> None:
    async with shop.http("max") as http:
        visit = (await http.post("/api/v1/visits", json={**VISIT, "id": "v1"})).json()
        resp = await http.put("/api/v1/visits/v1/assignee", json={"assignee_id": "alice"})
        assert resp.status_code == 200, resp.text
        moved = resp.json()
        assert moved["assignee_id"] == "alice" and moved["_rev"].startswith("2-")
        assert moved["scheduled_start"] == visit["scheduled_start"]
        same = await http.put("/api/v1/visits/visit:v1/assignee", json={"assignee_id": "alice"})
        assert same.json()["_rev"] == moved["_rev"]  # nothing to change, nothing written
        resp = await http.put("/api/v1/visits/v1/assignee", json={"assignee_id": "olga"})
        assert_problem(resp, 422, "backoffice")
        resp = await http.put("/api/v1/visits/nope/assignee", json={"assignee_id": "alice"})
        assert_problem(resp, 404, "visit:nope")
        assert_problem(await http.put("/api/v1/visits/v1/assignee", json={}), 422)
    assert (await shop.couch.get(shop.dbs.field, "visit:v1"))["assignee_id"] == "alice"


async def test_work_orders_open_assigned_and_reassigned(shop: World) -> None:
    async with shop.http("max") as http:
        resp = await http.post("/api/v1/work-orders", json={**WORK_ORDER, "assignee_id": "bob"})
        assert resp.status_code == 201, resp.text
        assigned = resp.json()
        assert re.fullmatch(r"work_order:[0-9a-f]{32}", assigned["_id"])
        assert assigned["status"] == "assigned" and assigned["account_id"] == "account:a1"
        open_one = (await http.post("/api/v1/work-orders", json={**WORK_ORDER, "id": "w2"})).json()
        assert open_one["status"] == "open" and "assignee_id" not in open_one
        resp = await http.put("/api/v1/work-orders/w2/assignee", json={"assignee_id": "bob"})
        assert resp.json()["status"] == "assigned" and resp.json()["assignee_id"] == "bob"
        bobs = (await http.get("/api/v1/work-orders", params={"assignee_id": "bob"})).json()
        assert sorted(w["_id"] for w in bobs) == sorted([assigned["_id"], "work_order:w2"])
        assert (await http.get("/api/v1/work-orders/w2")).json()["status"] == "assigned"
        # a visit may point at an existing work order
        visit = await http.post("/api/v1/visits", json={**VISIT, "work_order_id": "work_order:w2"})
        assert visit.status_code == 201
        resp = await http.post("/api/v1/work-orders", json={**WORK_ORDER, "problem": ""})
        assert_problem(resp, 422, "problem")
        resp = await http.post("/api/v1/work-orders", json={**WORK_ORDER, "id": "w2"})
        assert_problem(resp, 409, "work_order:w2")
        assert_problem(await http.get("/api/v1/work-orders/w404"), 404)


@pytest.mark.parametrize("user", ["alice", "bob", "olga"])
async def test_only_managers_and_admins(shop: World, user: str) -> None:
    async with shop.http(user) as http:
        for resp in (
            await http.post("/api/v1/visits", json=VISIT),
            await http.get("/api/v1/visits"),
            await http.put("/api/v1/visits/v1/assignee", json={"assignee_id": "bob"}),
            await http.post("/api/v1/work-orders", json=WORK_ORDER),
            await http.get("/api/v1/work-orders"),
            await http.put("/api/v1/work-orders/w1/assignee", json={"assignee_id": "bob"}),
        ):
            assert_problem(resp, 403, "manager")
    async with as_admin(shop) as http:
        resp = await http.post("/api/v1/visits", json=VISIT)
    assert resp.status_code == 201 and resp.json()["updated_by"] == "admin"
