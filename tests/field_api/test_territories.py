# ruff: noqa: F811  (fixtures imported from api_world are test parameters here)
"""Territories API: create, read, set accounts and reps; roles and problem+json errors."""

from __future__ import annotations

import pytest
from api_world import api, as_admin, assert_problem, seed_accounts  # noqa: F401
from support.world import World


async def create(world: World, territory_id: str, user: str = "max") -> None:
    async with world.http(user) as http:
        resp = await http.post("/api/v1/territories", json={"id": territory_id, "name": "T"})
    assert resp.status_code == 201, resp.text


async def test_create_then_read_and_list(api: World) -> None:
    async with api.http("max") as http:
        resp = await http.post("/api/v1/territories", json={"id": "north", "name": "North"})
        assert resp.status_code == 201, resp.text
        assert resp.json() == {
            "id": "north",
            "doc_id": "territory:north",
            "name": "North",
            "rep_ids": [],
            "account_ids": [],
            "updated_at": resp.json()["updated_at"],
            "updated_by": "max",
        }
        stored = await api.couch.get(api.dbs.master, "territory:north")
        assert stored["type"] == "territory" and stored["schema_version"] == 1
        assert stored["updated_by"] == "max" and stored["updated_at"].endswith("Z")
        one = await http.get("/api/v1/territories/north")
        same = await http.get("/api/v1/territories/territory:north")
        assert one.status_code == same.status_code == 200
        assert one.json() == same.json()
        listed = await http.get("/api/v1/territories")
        assert [t["id"] for t in listed.json()] == ["north"]


async def test_duplicate_territory_is_409_and_missing_is_404(api: World) -> None:
    await create(api, "north")
    async with api.http("max") as http:
        resp = await http.post("/api/v1/territories", json={"id": "north", "name": "Again"})
        assert_problem(resp, 409, "territory:north", "already exists")
        assert_problem(await http.get("/api/v1/territories/nowhere"), 404, "territory:nowhere")
        resp = await http.put("/api/v1/territories/nowhere/accounts", json=[])
        assert_problem(resp, 404, "POST /api/v1/territories")
    assert (await api.couch.get(api.dbs.master, "territory:north"))["name"] == "T"


@pytest.mark.parametrize(
    "body",
    [
        {"id": "_hidden", "name": "x"},
        {"id": "north"},
        {"id": "north", "name": ""},
        {"id": "north", "name": "x", "rep_ids": ["alice"]},
    ],
)
async def test_bad_territory_bodies_are_422(api: World, body: dict[str, object]) -> None:
    async with api.http("max") as http:
        assert_problem(await http.post("/api/v1/territories", json=body), 422)


@pytest.mark.parametrize("user", ["alice", "bob", "olga"])
async def test_only_managers_and_admins(api: World, user: str) -> None:
    await create(api, "north")
    async with api.http(user) as http:
        for resp in (
            await http.post("/api/v1/territories", json={"id": "south", "name": "S"}),
            await http.get("/api/v1/territories"),
            await http.get("/api/v1/territories/north"),
            await http.put("/api/v1/territories/north/accounts", json=[]),
            await http.put("/api/v1/territories/north/reps", json=["alice"]),
        ):
            assert_problem(resp, 403, "manager")
    async with as_admin(api) as http:
        resp = await http.post("/api/v1/territories", json={"id": "south", "name": "S"})
        assert resp.status_code == 201
        assert resp.json()["updated_by"] == "admin"
    async with api.http() as http:
        assert_problem(await http.get("/api/v1/territories"), 401)


async def test_set_accounts_moves_accounts_in_and_out(api: World) -> None:
    await create(api, "north")
    await create(api, "south")
    await seed_accounts(api, "account:a1", "account:a2", "account:a3")
    async with api.http("max") as http:
        resp = await http.put("/api/v1/territories/north/accounts", json=["account:a1", "a2"])
        assert resp.status_code == 200, resp.text
        assert resp.json()["account_ids"] == ["account:a1", "account:a2"]
        a1 = await api.couch.get(api.dbs.master, "account:a1")
        assert a1["territory_id"] == "territory:north" and a1["updated_by"] == "max"
        assert a1["name"] == "Shop account:a1"  # the rest of the account is untouched
        # a2 leaves north (null), a3 joins; a1 stays and is not rewritten
        rev_a1 = a1["_rev"]
        resp = await http.put("/api/v1/territories/north/accounts", json=["a1", "a3", "a3"])
        assert resp.json()["account_ids"] == ["account:a1", "account:a3"]
        assert (await api.couch.get(api.dbs.master, "account:a1"))["_rev"] == rev_a1
        assert (await api.couch.get(api.dbs.master, "account:a2"))["territory_id"] is None
        # moving a3 to south takes it out of north
        await http.put("/api/v1/territories/south/accounts", json=["a3"])
        north = (await http.get("/api/v1/territories/north")).json()
        south = (await http.get("/api/v1/territories/south")).json()
        assert north["account_ids"] == ["account:a1"]
        assert south["account_ids"] == ["account:a3"]
        listed = {t["id"]: t["account_ids"] for t in (await http.get("/api/v1/territories")).json()}
        assert listed == {"north": ["account:a1"], "south": ["account:a3"]}
        # an empty list empties the territory
        await http.put("/api/v1/territories/north/accounts", json=[])
        assert (await api.couch.get(api.dbs.master, "account:a1"))["territory_id"] is None


async def test_unknown_accounts_are_422_and_nothing_is_written(api: World) -> None:
    await create(api, "north")
    await seed_accounts(api, "account:a1", "account:a2")
    async with api.http("max") as http:
        await http.put("/api/v1/territories/north/accounts", json=["a1"])
        before = await api.couch.get(api.dbs.master, "account:a1")
        resp = await http.put(
            "/api/v1/territories/north/accounts", json=["a2", "account:ghost", "ghost2"]
        )
        body = assert_problem(resp, 422, "account:ghost", "account:ghost2")
        assert body["unknown_account_ids"] == ["account:ghost", "account:ghost2"]
        resp = await http.put("/api/v1/territories/north/accounts", json=["bad id!"])
        assert_problem(resp, 422, "bad id!")
        resp = await http.put("/api/v1/territories/north/accounts", json={"a": 1})
        assert_problem(resp, 422)
    assert (await api.couch.get(api.dbs.master, "account:a1")) == before
    assert "territory_id" not in await api.couch.get(api.dbs.master, "account:a2")


async def test_set_reps_accepts_field_users_only(api: World) -> None:
    await create(api, "north")
    async with api.http("max") as http:
        resp = await http.put("/api/v1/territories/north/reps", json=["alice", "bob", "alice"])
        assert resp.status_code == 200, resp.text
        assert resp.json()["rep_ids"] == ["alice", "bob"]
        stored = await api.couch.get(api.dbs.master, "territory:north")
        assert stored["rep_ids"] == ["alice", "bob"] and stored["updated_by"] == "max"
        resp = await http.put("/api/v1/territories/north/reps", json=["carol", "max", "nobody"])
        body = assert_problem(resp, 422, "'max' is a manager", "'nobody' is not a user")
        assert body["invalid_user_ids"] == ["max", "nobody"]
        assert (await api.couch.get(api.dbs.master, "territory:north"))["rep_ids"] == [
            "alice",
            "bob",
        ]
        resp = await http.put("/api/v1/territories/north/reps", json=[])
        assert resp.json()["rep_ids"] == []
