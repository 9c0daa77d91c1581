"""The orders inbox: cursor walks (also across a restart of the service), filters, roles,
one order, and the export (CSV and JSON) against PouchDB Server."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from support.orders_world import order, orders_world
from support.world import World

from field_api.problems import BadInput
from field_api.services.order_cursor import decode_cursor, encode_cursor
from mobile_schema import sample, sample_order_line, sample_order_v1


@pytest.fixture
async def world(service: Any) -> World:
    return await orders_world(service)


async def walk(
    world: World, *, since: str | None = None, pages: int = 1000, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """Follow the inbox until ``more`` is false (or ``pages`` pages); (items, last cursor)."""
    items: list[dict[str, Any]] = []
    async with world.http("bo") as http:
        for _ in range(pages):
            query = {k: v for k, v in {**params, "since": since}.items() if v is not None}
            resp = await http.get("/api/v1/orders", params=query)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            items.extend(body["items"])
            since = body["next"]
            if not body["more"]:
                break
    assert since is not None
    return items, since


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["_id"] for item in items]


async def test_cursor_walk_yields_every_order_once_in_small_pages(world: World) -> None:
    await world.couch.bulk_docs(world.dbs.orders, [order(f"o{i:02}") for i in range(23)])
    pages = 0
    items: list[dict[str, Any]] = []
    since = None
    async with world.http("bo") as http:
        while True:
            body = (await http.get("/api/v1/orders", params={"limit": 4, "since": since})).json()
            pages += 1
            assert len(body["items"]) <= 4
            items.extend(body["items"])
            since = body["next"]
            if not body["more"]:
                break
    assert sorted(ids(items)) == [f"order:o{i:02}" for i in range(23)]
    assert len(items) == 23
    assert pages >= 6
    # nothing new: the cursor stays usable and yields nothing
    again, _ = await walk(world, since=since)
    assert again == []


async def test_walk_continues_across_a_restart_of_the_service(
    world: World, service_factory: Any
) -> None:
    await world.couch.bulk_docs(world.dbs.orders, [order(f"a{i}") for i in range(10)])
    first, cursor = await walk(world, limit=3, pages=2)
    assert len(first) == 6
    # more orders arrive and one already seen changes while the follower is away
    await world.couch.bulk_docs(world.dbs.orders, [order(f"b{i}") for i in range(5)])
    seen = await world.couch.get(world.dbs.orders, first[0]["_id"])
    await world.couch.put(world.dbs.orders, {**seen, "note": "changed"})

    restarted = await service_factory()
    world.service = restarted  # same databases, a new process state
    rest, _ = await walk(world, since=cursor, limit=3)
    pairs = [(d["_id"], d["_rev"]) for d in first + rest]
    assert len(pairs) == len(set(pairs)), "a revision was yielded twice"
    expected = {f"order:a{i}" for i in range(10)} | {f"order:b{i}" for i in range(5)}
    assert set(ids(first + rest)) == expected
    # the changed order comes again with its new revision, nothing else repeats
    repeated = [i for i in ids(rest) if i in ids(first)]
    assert repeated == [first[0]["_id"]]
    assert rest[ids(rest).index(first[0]["_id"])]["note"] == "changed"


async def test_filters_by_status_rep_and_territory(world: World) -> None:
    master = world.dbs.master
    await world.couch.bulk_docs(
        master,
        [
            sample("account", **{"_id": "account:n1"}, territory_id="territory:north"),
            sample("account", **{"_id": "account:s1"}, territory_id="territory:south"),
        ],
    )
    await world.couch.bulk_docs(
        world.dbs.orders,
        [
            order("d1", status="draft"),
            order("s-alice-n", account="account:n1"),
            order("s-carol-s", rep="carol", account="account:s1"),
            order("c-alice-s", status="confirmed", account="account:s1"),
            order("r-carol-n", rep="carol", status="rejected", account="account:n1"),
            sample("product"),  # not an order: never in the inbox
        ],
    )
    everything, _ = await walk(world)
    assert "order:d1" not in ids(everything)  # drafts only when asked
    assert len(everything) == 4
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"status": "submitted"}, {"order:s-alice-n", "order:s-carol-s"}),
        ({"status": "draft"}, {"order:d1"}),
        ({"status": "confirmed,rejected"}, {"order:c-alice-s", "order:r-carol-n"}),
        (
            {"status": "all"},
            {
                "order:d1",
                "order:s-alice-n",
                "order:s-carol-s",
                "order:c-alice-s",
                "order:r-carol-n",
            },
        ),
        ({"rep_id": "carol"}, {"order:s-carol-s", "order:r-carol-n"}),
        ({"territory_id": "north"}, {"order:s-alice-n", "order:r-carol-n"}),
        ({"territory_id": "territory:south", "rep_id": "alice"}, {"order:c-alice-s"}),
        ({"territory_id": "east"}, set()),
    ]
    for params, expected in cases:
        got, _ = await walk(world, limit=2, **params)
        assert set(ids(got)) == expected, params
        assert len(got) == len(expected), params


async def test_a_page_scans_a_bounded_number_of_changes(world: World) -> None:
    from field_api.services import orders as svc

    await world.couch.bulk_docs(world.dbs.orders, [order(f"x{i}", rep="carol") for i in range(30)])
    await world.couch.put(world.dbs.orders, order("wanted"))
    rt = world.service.runtime
    flt = svc.OrderFilter(rep_id="alice")
    page = await svc.read_inbox(rt.couch, rt.dbs, flt, since=None, limit=5, max_scan=10)
    assert page.items == [] and page.more and page.scanned == 10
    found: list[str] = []
    since = page.next
    while page.more:
        page = await svc.read_inbox(rt.couch, rt.dbs, flt, since=since, limit=5, max_scan=10)
        found += ids(page.items)
        since = page.next
    assert found == ["order:wanted"]


async def test_bad_cursor_status_and_roles(world: World) -> None:
    async with world.http("bo") as http:
        for params in (
            {"since": "nonsense"},
            {"since": "c1.!!!"},
            {"status": "lost"},
            {"limit": 0},
            {"limit": 10_000},
        ):
            resp = await http.get("/api/v1/orders", params=params)
            assert resp.status_code == 422, params
            assert resp.headers["content-type"].startswith("application/problem+json")
    for user, code in (("max", 200), ("alice", 403), ("bob", 403)):
        async with world.http(user) as http:
            assert (await http.get("/api/v1/orders")).status_code == code
            assert (await http.get("/api/v1/orders/export")).status_code == code
    async with world.http() as http:
        assert (await http.get("/api/v1/orders")).status_code == 401


def test_cursor_round_trips_numbers_and_couchdb3_strings() -> None:
    for seq in (0, 17, "123-g1AAAAFTeJzLYWBgYMlgTmFQSElKzi9KdUhJMtLLTMo1MDDUS87JL0"):
        assert decode_cursor(encode_cursor(seq)) == seq
    assert decode_cursor(None) == 0 and decode_cursor("") == 0
    for forged in (encode_cursor(-1), encode_cursor(True), encode_cursor([1]), "c1.w6k"):
        with pytest.raises(BadInput):
            decode_cursor(forged)


async def test_one_order_by_id_and_404(world: World) -> None:
    await world.couch.put(world.dbs.orders, order("o-1"))
    async with world.http("max") as http:
        for ref in ("o-1", "order:o-1"):
            resp = await http.get(f"/api/v1/orders/{ref}")
            assert resp.status_code == 200
            assert resp.json()["_id"] == "order:o-1"
        resp = await http.get("/api/v1/orders/nope")
        assert resp.status_code == 404
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_old_app_orders_are_shown_at_the_current_schema(world: World) -> None:
    await world.couch.put(world.dbs.orders, sample_order_v1(status="submitted"))
    items, _ = await walk(world)
    assert items[0]["schema_version"] == 2
    assert items[0]["lines"][0]["unit_price"] == "12.50"


async def test_export_csv_has_one_row_per_live_line(world: World) -> None:
    lines = [
        sample_order_line(line_id="l1", qty=2, unit_price="10.00", discount_pct=0),
        sample_order_line(line_id="l2", qty=1, unit_price="5.50", discount_pct=0, confirmed_qty=3),
        sample_order_line(line_id="gone", deleted=True),
    ]
    await world.couch.bulk_docs(
        world.dbs.orders,
        [order("e1", lines=lines), order("e2", rep="carol"), order("e3", status="draft")],
    )
    async with world.http("bo") as http:
        resp = await http.get("/api/v1/orders/export", params={"format": "csv"})
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/csv")
        cursor = resp.headers["x-next-cursor"]
        rows = list(csv.DictReader(io.StringIO(resp.text)))
        # orders come in change-sequence order, which one _bulk_docs does not fix on PouchDB
        # Server; the lines of one order keep their order
        assert sorted((r["order_id"], r["line_id"]) for r in rows) == [
            ("order:e1", "l1"),
            ("order:e1", "l2"),
            ("order:e2", "l1"),
        ]
        assert [r["line_id"] for r in rows if r["order_id"] == "order:e1"] == ["l1", "l2"]
        e1 = [r for r in rows if r["order_id"] == "order:e1"]
        assert [r["amount"] for r in e1] == ["20.00", "16.50"]
        assert [r["confirmed_qty"] for r in e1] == ["", "3"]
        assert {r["rep_id"] for r in rows} == {"alice", "carol"}
        assert all(r["status"] == "submitted" for r in rows)

        # the next export from the cursor holds only what changed since
        await world.couch.put(world.dbs.orders, order("e4"))
        resp = await http.get("/api/v1/orders/export", params={"format": "json", "since": cursor})
        assert resp.status_code == 200
        assert [d["_id"] for d in resp.json()] == ["order:e4"]
        full = await http.get("/api/v1/orders/export", params={"format": "json", "rep_id": "alice"})
        assert sorted(d["_id"] for d in full.json()) == ["order:e1", "order:e4"]
        assert (
            await http.get("/api/v1/orders/export", params={"format": "xml"})
        ).status_code == 422
