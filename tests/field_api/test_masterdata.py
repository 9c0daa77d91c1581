# ruff: noqa: F811  (fixtures imported from api_world are test parameters here)
"""Back-office master data: bulk upserts of products, accounts, contacts; price lists."""

from __future__ import annotations

from typing import Any

import pytest
from api_world import api, as_admin, assert_problem  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st
from support.world import World

from field_api.problems import BadInput
from field_api.services.documents import same_content
from field_api.services.masterdata import MAX_BULK_ITEMS, _merged, prepare

PRODUCT = {"sku": "SKU-1", "name": "Espresso 1 kg", "unit": "kg"}


@pytest.mark.parametrize(
    ("doc_type", "item", "expected_id"),
    [
        ("product", PRODUCT, "product:SKU-1"),
        ("product", {**PRODUCT, "_id": "p-1"}, "product:p-1"),
        ("product", {**PRODUCT, "_id": "product:p-1", "_rev": "1-abc"}, "product:p-1"),
        ("account", {"_id": "a1", "name": "Shop", "type": "account"}, "account:a1"),
        ("contact", {"_id": "contact:k", "account_id": "account:a1", "name": "K"}, "contact:k"),
    ],
)
def test_prepare_fills_the_bookkeeping(
    doc_type: str, item: dict[str, Any], expected_id: str
) -> None:
    before = dict(item)
    doc = prepare(doc_type, item, "olga")
    assert item == before  # the caller's item is not changed
    assert doc["_id"] == expected_id
    assert doc["type"] == doc_type and doc["schema_version"] == 1
    assert doc["updated_by"] == "olga" and doc["updated_at"].endswith("Z")
    assert "_rev" not in doc


@pytest.mark.parametrize(
    ("doc_type", "item", "words"),
    [
        ("product", {"name": "x", "unit": "kg"}, ["_id: is required"]),
        ("product", {**PRODUCT, "type": "account"}, ["must be 'product'"]),
        ("product", {**PRODUCT, "_deleted": True}, ["_deleted"]),
        ("product", {**PRODUCT, "_attachments": {}}, ["_attachments"]),
        ("product", {**PRODUCT, "price": "1.00"}, ["price"]),
        ("product", {**PRODUCT, "schema_version": 9}, ["newer than this server"]),
        ("account", {"_id": "bad id", "name": "x"}, ["bad id"]),
        ("contact", {"_id": "k", "account_id": "a1", "name": "K"}, ["account_id"]),
        (
            "contact",
            {"_id": "k", "account_id": "account:a1", "name": "K", "email": "no"},
            ["email"],
        ),
    ],
)
def test_prepare_refuses_with_a_reason(
    doc_type: str, item: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(BadInput) as caught:
        prepare(doc_type, item, "olga")
    for word in words:
        assert word in caught.value.detail


async def test_products_are_created_updated_and_left_alone_when_unchanged(api: World) -> None:
    async with api.http("olga") as http:
        resp = await http.put("/api/v1/products", json=[PRODUCT, {**PRODUCT, "sku": "SKU-2"}])
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["errors"] == 0
        assert [(i["id"], i["ok"], i["rev"][:2]) for i in body["items"]] == [
            ("product:SKU-1", True, "1-"),
            ("product:SKU-2", True, "1-"),
        ]
        stored = await api.couch.get(api.dbs.master, "product:SKU-1")
        assert stored["updated_by"] == "olga" and stored["type"] == "product"
        # the same content again: no new revision
        again = (await http.put("/api/v1/products", json=[PRODUCT])).json()
        assert again["items"] == [
            {"id": "product:SKU-1", "ok": True, "rev": stored["_rev"], "unchanged": True}
        ]
        # a change: revision 2, the server found the _rev itself
        renamed = (await http.put("/api/v1/products", json=[{**PRODUCT, "name": "Beans"}])).json()
        assert renamed["items"][0]["rev"].startswith("2-")
        assert (await api.couch.get(api.dbs.master, "product:SKU-1"))["name"] == "Beans"


async def test_a_deleted_product_can_be_upserted_again(api: World) -> None:
    async with api.http("olga") as http:
        first = (await http.put("/api/v1/products", json=[PRODUCT])).json()["items"][0]
        await api.couch.delete(api.dbs.master, "product:SKU-1", first["rev"])
        again = (await http.put("/api/v1/products", json=[PRODUCT])).json()
    assert again["errors"] == 0 and again["items"][0]["rev"].startswith("3-")
    assert (await api.couch.get(api.dbs.master, "product:SKU-1"))["name"] == PRODUCT["name"]


async def test_bad_items_get_their_own_errors_and_the_rest_is_written(api: World) -> None:
    items = [
        {**PRODUCT, "sku": "A"},
        {**PRODUCT, "sku": "B", "unit": ""},
        {**PRODUCT, "sku": "C"},
        {**PRODUCT, "sku": "A", "name": "twice"},
        {"_id": "product:D", **PRODUCT, "_deleted": True},
    ]
    async with api.http("olga") as http:
        resp = await http.put("/api/v1/products", json=items)
    assert resp.status_code == 200
    body = resp.json()
    assert body["errors"] == 3
    rows = body["items"]
    assert [r.get("ok", False) for r in rows] == [True, False, True, False, False]
    assert rows[1]["error"] == "invalid" and "unit" in rows[1]["reason"]
    assert (
        rows[3]
        == {
            "id": "product:A",
            "error": "duplicate",
            "reason": rows[3]["reason"],
        }
        and "index 0" in rows[3]["reason"]
    )
    assert rows[4]["id"] == "product:D" and "_deleted" in rows[4]["reason"]
    stored = await api.couch.all_docs(api.dbs.master)
    assert sorted(r["id"] for r in stored["rows"]) == ["product:A", "product:C"]
    assert (await api.couch.get(api.dbs.master, "product:A"))["name"] == PRODUCT["name"]


async def test_too_many_items_is_413_and_nothing_is_written(api: World) -> None:
    items = [{**PRODUCT, "sku": f"S{i}"} for i in range(MAX_BULK_ITEMS + 1)]
    async with api.http("olga") as http:
        assert_problem(await http.put("/api/v1/products", json=items), 413, "5000")
        assert_problem(await http.put("/api/v1/products", json={"sku": "x"}), 422)
        assert_problem(await http.put("/api/v1/products", json=["not an object"]), 422)
        empty = await http.put("/api/v1/products", json=[])
        assert empty.json() == {"items": [], "errors": 0}
    assert (await api.couch.all_docs(api.dbs.master))["rows"] == []


async def test_an_account_keeps_its_territory_unless_the_upsert_sends_one(api: World) -> None:
    account = {"_id": "account:a1", "name": "Shop", "address": "1 Main St"}
    async with api.http("olga") as http:
        await http.put("/api/v1/accounts", json=[account])
    async with api.http("max") as http:
        await http.post("/api/v1/territories", json={"id": "north", "name": "North"})
        await http.put("/api/v1/territories/north/accounts", json=["a1"])
    async with api.http("olga") as http:
        resp = await http.put("/api/v1/accounts", json=[{**account, "address": "2 Main St"}])
        assert resp.json()["errors"] == 0
        stored = await api.couch.get(api.dbs.master, "account:a1")
        assert stored["territory_id"] == "territory:north" and stored["address"] == "2 Main St"
        resp = await http.put("/api/v1/accounts", json=[{**account, "territory_id": None}])
        assert (await api.couch.get(api.dbs.master, "account:a1"))["territory_id"] is None
        # a full replacement otherwise: a field left out is gone
        assert "address" in account
        await http.put("/api/v1/accounts", json=[{"_id": "a1", "name": "Shop"}])
        assert "address" not in await api.couch.get(api.dbs.master, "account:a1")


async def test_contacts_are_validated(api: World) -> None:
    good = {"_id": "kari", "account_id": "account:a1", "name": "Kari", "email": "k@example.com"}
    bad = {**good, "_id": "ola", "phone": "call me"}
    async with api.http("olga") as http:
        body = (await http.put("/api/v1/contacts", json=[good, bad])).json()
    assert body["errors"] == 1
    assert body["items"][0]["id"] == "contact:kari" and body["items"][0]["ok"]
    assert body["items"][1]["id"] == "ola" and "phone" in body["items"][1]["reason"]


async def test_a_price_list_is_created_then_replaced(api: World) -> None:
    price_list = {"currency": "EUR", "items": [{"sku": "SKU-1", "unit_price": "12.50"}]}
    async with api.http("olga") as http:
        created = await http.put("/api/v1/price-lists/std", json=price_list)
        assert created.status_code == 201, created.text
        assert created.json()["id"] == "price_list:std"
        replaced = await http.put(
            "/api/v1/price-lists/price_list:std",
            json={**price_list, "_id": "std", "territory_ids": ["territory:north"]},
        )
        assert replaced.status_code == 200 and replaced.json()["rev"].startswith("2-")
        stored = await api.couch.get(api.dbs.master, "price_list:std")
        assert stored["territory_ids"] == ["territory:north"] and stored["updated_by"] == "olga"
        resp = await http.put("/api/v1/price-lists/std", json={**price_list, "_id": "other"})
        assert_problem(resp, 422, "does not match")
        resp = await http.put(
            "/api/v1/price-lists/std", json={**price_list, "items": [{"sku": "S", "unit_price": 1}]}
        )
        assert_problem(resp, 422, "unit_price")
    assert (await api.couch.get(api.dbs.master, "price_list:std"))["_rev"] == replaced.json()["rev"]


@pytest.mark.parametrize("user", ["max", "alice", "bob"])
async def test_only_back_office_and_admins(api: World, user: str) -> None:
    async with api.http(user) as http:
        for path in ("/api/v1/products", "/api/v1/accounts", "/api/v1/contacts"):
            assert_problem(await http.put(path, json=[]), 403, "backoffice")
        resp = await http.put("/api/v1/price-lists/std", json={"currency": "EUR", "items": []})
        assert_problem(resp, 403)
    async with as_admin(api) as http:
        body = (await http.put("/api/v1/products", json=[PRODUCT])).json()
    assert body["errors"] == 0
    assert (await api.couch.get(api.dbs.master, "product:SKU-1"))["updated_by"] == "admin"


@settings(max_examples=60, deadline=None)
@given(
    sku=st.from_regex(r"[A-Z][A-Z0-9-]{0,15}", fullmatch=True),
    name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
    active=st.booleans(),
)
def test_prepare_is_stable_and_a_resend_is_unchanged(sku: str, name: str, active: bool) -> None:
    item = {"sku": sku, "name": name, "unit": "pcs", "active": active}
    try:
        first = prepare("product", item, "olga")
    except BadInput:
        return  # names mobile_schema refuses (e.g. only spaces) are refused here too
    stored = {**first, "_rev": "1-abc"}
    # preparing the stored document again gives the same content: nothing to write
    assert same_content(prepare("product", stored, "erp"), stored)
    assert _merged("product", prepare("product", item, "erp"), stored) is None
    changed = _merged("product", prepare("product", {**item, "active": not active}, "erp"), stored)
    assert changed is not None and changed["active"] is (not active)
