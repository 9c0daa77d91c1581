# ruff: noqa: F811  (fixtures imported from api_world are test parameters here)
"""The public API the console is built on: account and product lists, an order's history,
territory move previews, CSV import over HTTP, and /docs served without a CDN."""

from __future__ import annotations

import orjson
from api_world import api, as_admin, assert_problem  # noqa: F401
from support.orders_world import order
from support.world import World

from conflict.resolver import Resolver
from mobile_schema import sample_order_line

ACCOUNTS = [
    {"_id": "account:n1", "name": "North One", "location": {"lat": 59.9, "lon": 10.7}},
    {"_id": "account:n2", "name": "North Two", "address": "2 Fjord Rd"},
    {"_id": "account:s1", "name": "South One"},
]


async def office(world: World) -> None:
    """n1, n2 in north (alice); s1 in south (carol); contact kc on n1; a price list of north."""
    async with world.http("olga") as http:
        assert (await http.put("/api/v1/accounts", json=ACCOUNTS)).json()["errors"] == 0
        contact = [{"_id": "contact:kc", "account_id": "account:n1", "name": "Kari"}]
        assert (await http.put("/api/v1/contacts", json=contact)).json()["errors"] == 0
        resp = await http.put(
            "/api/v1/price-lists/pl-north",
            json={
                "name": "N",
                "currency": "EUR",
                "territory_ids": ["territory:north"],
                "items": [{"sku": "SKU-1", "unit_price": "1.00"}],
            },
        )
        assert resp.status_code == 201, resp.text
    async with world.http("max") as http:
        for tid, accounts, reps in (
            ("north", ["n1", "n2"], ["alice"]),
            ("south", ["s1"], ["carol"]),
        ):
            assert (
                await http.post("/api/v1/territories", json={"id": tid, "name": tid})
            ).is_success
            assert (await http.put(f"/api/v1/territories/{tid}/accounts", json=accounts)).is_success
            assert (await http.put(f"/api/v1/territories/{tid}/reps", json=reps)).is_success


async def test_accounts_and_products_lists_filter_and_keep_roles(api: World) -> None:
    await office(api)
    async with api.http("olga") as http:
        assert (
            await http.put(
                "/api/v1/products",
                json=[
                    {"sku": "B-2", "name": "Beans", "unit": "kg"},
                    {"sku": "A-1", "name": "Tea", "unit": "pcs"},
                ],
            )
        ).is_success
        every = (await http.get("/api/v1/accounts")).json()
        assert [a["_id"] for a in every["items"]] == ["account:n1", "account:n2", "account:s1"]
        north = (await http.get("/api/v1/accounts", params={"territory_id": "north"})).json()
        assert north["total"] == 2
        found = (await http.get("/api/v1/accounts", params={"q": "fjord"})).json()
        assert [a["_id"] for a in found["items"]] == ["account:n2"]
        first = (await http.get("/api/v1/accounts", params={"limit": 1})).json()
        assert len(first["items"]) == 1 and first["total"] == 3
        products = (await http.get("/api/v1/products", params={"q": "bean"})).json()
        assert [p["sku"] for p in products["items"]] == ["B-2"]
    async with api.http("alice") as http:
        assert_problem(await http.get("/api/v1/accounts"), 403, "rep")


async def test_move_preview_counts_what_each_phone_gains_and_loses_and_writes_nothing(
    api: World,
) -> None:
    await office(api)
    async with api.http("max") as http:
        # n1 (with its contact) from north to south
        resp = await http.post(
            "/api/v1/territories/south/accounts/preview", json=["s1", "account:n1"]
        )
        assert resp.status_code == 200, resp.text
        users = {u["user_id"]: u for u in resp.json()["users"]}
        assert users == {
            "alice": {
                "user_id": "alice",
                "gain": 0,
                "lose": 2,
                "gained": {},
                "lost": {"account": 1, "contact": 1},
            },
            "carol": {
                "user_id": "carol",
                "gain": 2,
                "lose": 0,
                "gained": {"account": 1, "contact": 1},
                "lost": {},
            },
        }
        assert (await api.couch.get(api.dbs.master, "account:n1"))[
            "territory_id"
        ] == "territory:north"
        # carol takes north from alice: the territory, its accounts, contact and price list
        resp = await http.post("/api/v1/territories/north/reps/preview", json=["carol"])
        users = {u["user_id"]: u for u in resp.json()["users"]}
        expected = {"territory": 1, "account": 2, "contact": 1, "price_list": 1}
        assert users["alice"]["lost"] == expected and users["alice"]["gain"] == 0
        assert users["carol"]["gained"] == expected and users["carol"]["lose"] == 0
        assert (await http.get("/api/v1/territories/north")).json()["rep_ids"] == ["alice"]
        assert_problem(
            await http.post("/api/v1/territories/north/accounts/preview", json=["nope"]),
            422,
            "account:nope",
        )
        assert_problem(
            await http.post("/api/v1/territories/north/reps/preview", json=["olga"]), 422, "olga"
        )
        assert_problem(await http.post("/api/v1/territories/x/reps/preview", json=[]), 404)
    async with api.http("olga") as http:
        assert_problem(await http.post("/api/v1/territories/north/reps/preview", json=[]), 403)


async def test_order_history_names_the_writer_of_each_revision_and_the_conflicts(
    api: World,
) -> None:
    #   1-a (alice, submitted) ── 2-b (olga: confirmed)     the back office confirms
    #                          └─ 2-c (alice: qty 5)        the rep edits offline
    # the resolver merges 2-b and 2-c into 3-m; the history lists both and who wrote them
    db = api.dbs.orders
    lines = [sample_order_line(line_id="l1", qty=2, unit_price="10.00", discount_pct=0)]
    base = order("h-1", lines=lines, updated_by="alice")
    first = await api.couch.put(db, base)
    async with api.http("olga") as http:
        confirmed = (await http.post("/api/v1/orders/h-1/confirm", json={})).json()
    edited = {
        **base,
        "_rev": "2-" + "c" * 32,
        "_revisions": {"start": 2, "ids": ["c" * 32, first["rev"].split("-")[1]]},
        "lines": [{**lines[0], "qty": 5, "updated_at": "2024-05-01T09:00:00.000Z"}],
        "total": "50.00",
        "updated_by": "alice-phone",
    }
    await api.couch.bulk_docs(db, [edited], new_edits=False)
    # no workers in this world: a resolver of its own (its pushes are not what is tested here)
    await Resolver(api.service.services.conflicts, [api.dbs.orders, api.dbs.field]).sweep()

    async with api.http("olga") as http:
        resp = await http.get("/api/v1/orders/order:h-1/history")
    assert resp.status_code == 200, resp.text
    hist = resp.json()
    assert hist["status"] == "confirmed" and hist["open_conflicts"] == []
    writers = [(r["rev"].split("-")[0], r["updated_by"]) for r in hist["revisions"]]
    # the merge is a child of the winning leaf: the higher revision id of the two
    winner = "olga" if confirmed["_rev"] > edited["_rev"] else "alice-phone"
    assert writers == [("3", writers[0][1]), ("2", winner), ("1", "alice")]
    assert hist["revisions"][0]["rev"] == hist["rev"]
    [record] = hist["conflicts"]
    assert record["leaf_authors"] == {confirmed["_rev"]: "olga", edited["_rev"]: "alice-phone"}
    assert record["merged_rev"] == hist["rev"]
    async with api.http("alice") as http:
        assert_problem(await http.get("/api/v1/orders/h-1/history"), 403)
    async with api.http("olga") as http:
        assert_problem(await http.get("/api/v1/orders/none/history"), 404)


PRODUCTS_CSV = (
    b"sku,name,unit,active\nSKU-1,Espresso,kg,true\nSKU-2,,kg,true\nSKU-3,Tea,pcs,maybe\n"
)


async def test_import_upload_reports_rows_and_streams_progress(api: World) -> None:
    async with api.http("olga") as http:
        kinds = (await http.get("/api/v1/import")).json()
        assert {"column": "sku", "required": True, "what": kinds["products"][1]["what"]} in kinds[
            "products"
        ]
        refused = await http.post(
            "/api/v1/import/products", content=PRODUCTS_CSV, headers={"Content-Type": "text/csv"}
        )
        body = assert_problem(refused, 422, "nothing imported")
        assert [(e["line"], e["column"]) for e in body["errors"]] == [(3, "name"), (4, "active")]
        assert await api.couch.get_or_none(api.dbs.master, "product:SKU-1") is None

        streamed = await http.post(
            "/api/v1/import/products?skip_bad_rows=true",
            content=PRODUCTS_CSV,
            headers={"Content-Type": "text/csv", "Accept": "application/x-ndjson"},
        )
        assert streamed.status_code == 200
        lines = [orjson.loads(line) for line in streamed.content.splitlines()]
        assert lines[0] == {"progress": {"done": 1, "total": 1}}
        result = lines[-1]["result"]
        assert (result["written"], result["bad_rows"], result["refused"]) == (1, 2, False)
        assert (await api.couch.get(api.dbs.master, "product:SKU-1"))["name"] == "Espresso"

        header = await http.post("/api/v1/import/accounts", content=b"idd,name\n")
        assert_problem(header, 422, "unknown column")
        assert (await http.post("/api/v1/import/things", content=b"")).status_code == 422
    async with api.http("max") as http:
        assert_problem(await http.post("/api/v1/import/products", content=PRODUCTS_CSV), 403)


async def test_docs_and_console_assets_are_served_locally(api: World) -> None:
    async with api.http() as http:
        docs = await http.get("/docs")
        assert docs.status_code == 200
        # every script and stylesheet is the service's own: no other host is named
        assert "http" not in docs.text.lower() and "cdn" not in docs.text.lower()
        assert '<script src="/console/vendor/swagger-ui-bundle.js">' in docs.text
        for src in ("/console/vendor/swagger-ui-bundle.js", "/console/vendor/chart.umd.min.js"):
            asset = await http.get(src)
            assert asset.status_code == 200
            assert asset.headers["content-type"].startswith("text/javascript")
        assert (await http.get("/console/vendor/package.json")).status_code == 404
        page = await http.get("/console/inbox")
        assert (
            page.status_code == 200 and "onclick" not in page.text and "<script>" not in page.text
        )
        assert (await http.get("/console/static/console.js")).status_code == 200
