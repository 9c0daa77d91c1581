"""Sales and visit reports against hand-computed totals, through the API on real views.

Orders in fs_orders (range 2024-05-01 .. 2024-05-10, ``to`` exclusive)::

    id  status     day (confirmed_at | submitted_at)  cur  rep    account (territory)
    o1  confirmed  2024-05-02                          EUR  alice  a1 (north)
        SKU-1 3 x 12.50 -10 %, confirmed 2 -> 22.50;  SKU-2 1 x 3.333 -> 3.333    total 25.83
    o2  shipped    2024-05-03                          EUR  carol  a2 (south)
        SKU-1 4 x 12.50 -> 50.00;  SKU-3 deleted line (not counted)               total 50.00
    o3  invoiced   2024-05-03                          NOK  alice  a3 (none)
        SKU-1 1 x 99.99 -12.5 % -> 87.49125                                       total 87.49
    o8  confirmed  2024-05-01 (submitted_at only)      EUR  alice  a1 (north)
        SKU-2 3 x 3.333 -> 9.999                                                  total 10.00
    not counted: o4 submitted, o5 rejected, o6 confirmed 2024-05-10 (to is exclusive),
                 o7 confirmed 2024-04-30T23:59:59.999Z (before from), o9 deleted
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from api_world import api, assert_problem  # noqa: F401  (fixture)
from polling import wait_until
from support.world import World, add_user, login

from mobile_schema import order_total, sample, sample_order_line

RANGE = {"from": "2024-05-01", "to": "2024-05-10"}


def line(line_id: str, sku: str, qty: float, price: str, **fields: Any) -> dict[str, Any]:
    fields = {"discount_pct": 0, "confirmed_qty": None, **fields}
    return sample_order_line(line_id=line_id, sku=sku, qty=qty, unit_price=price, **fields)


def order(
    local: str,
    status: str,
    currency: str,
    rep: str,
    account: str,
    lines: list[Any],
    *,
    at: str | None,
    submitted_at: str | None = "2024-04-29T09:00:00.000Z",
) -> Any:
    return sample(
        "order",
        _id=f"order:{local}",
        status=status,
        currency=currency,
        rep_id=rep,
        account_id=f"account:{account}",
        lines=lines,
        total=order_total(lines),
        submitted_at=submitted_at,
        confirmed_at=at,
    )


ORDERS = [
    order("o1", "confirmed", "EUR", "alice", "a1", at="2024-05-02T10:00:00.000Z", lines=[
        line("l1", "SKU-1", 3, "12.50", discount_pct=10, confirmed_qty=2),
        line("l2", "SKU-2", 1, "3.333"),
    ]),
    order("o2", "shipped", "EUR", "carol", "a2", at="2024-05-03T23:59:59.999Z", lines=[
        line("l1", "SKU-1", 4, "12.50"),
        line("l2", "SKU-3", 100, "1.00", deleted=True),
    ]),
    order("o3", "invoiced", "NOK", "alice", "a3", at="2024-05-03T00:00:00.000Z", lines=[
        line("l1", "SKU-1", 1, "99.99", discount_pct=12.5),
    ]),
    order("o8", "confirmed", "EUR", "alice", "a1", at=None,
          submitted_at="2024-05-01T00:00:00.000Z", lines=[line("l1", "SKU-2", 3, "3.333")]),
    order("o4", "submitted", "EUR", "alice", "a1", at=None,
          submitted_at="2024-05-02T00:00:00.000Z", lines=[line("l1", "SKU-1", 7, "1.00")]),
    order("o5", "rejected", "EUR", "alice", "a1", at="2024-05-02T00:00:00.000Z",
          lines=[line("l1", "SKU-1", 7, "1.00")]),
    order("o6", "confirmed", "EUR", "alice", "a1", at="2024-05-10T00:00:00.000Z",
          lines=[line("l1", "SKU-1", 7, "1.00")]),
    order("o7", "confirmed", "EUR", "alice", "a1", at="2024-04-30T23:59:59.999Z",
          lines=[line("l1", "SKU-1", 7, "1.00")]),
    order("o9", "confirmed", "EUR", "alice", "a1", at="2024-05-02T00:00:00.000Z",
          lines=[line("l1", "SKU-1", 7, "1.00")]),
]  # fmt: skip
ACCOUNTS = [("a1", "territory:north"), ("a2", "territory:south"), ("a3", None)]
VISITS = [
    ("v1", "bob", "done", "2024-05-02T07:00:00.000Z"),
    ("v2", "bob", "planned", "2024-05-03T07:00:00.000Z"),
    ("v3", "bob", "cancelled", "2024-05-04T07:00:00.000Z"),
    ("v4", "bob", "in_progress", "2024-05-05T07:00:00.000Z"),
    ("v5", "bob", "done", "2024-05-10T07:00:00.000Z"),  # outside the range
    ("v6", "alice", "done", "2024-05-09T23:00:00.000Z"),
]


async def seed(world: World) -> None:
    couch, dbs = world.couch, world.dbs
    accounts = [sample("account", _id=f"account:{a}", territory_id=t) for a, t in ACCOUNTS]
    assert all("error" not in r for r in await couch.bulk_docs(dbs.master, accounts))
    assert all("error" not in r for r in await couch.bulk_docs(dbs.orders, ORDERS))
    gone = await couch.get(dbs.orders, "order:o9")
    await couch.delete(dbs.orders, "order:o9", gone["_rev"])
    visits = [
        sample("visit", _id=f"visit:{v}", assignee_id=who, status=status, scheduled_start=start)
        for v, who, status, start in VISITS
    ]
    assert all("error" not in r for r in await couch.bulk_docs(dbs.field, visits))


async def report(world: World, path: str, user: str = "max", **params: Any) -> Any:
    async with world.http(user) as http:
        resp = await http.get(f"/api/v1/reports/{path}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def table(body: Any, *fields: str) -> set[tuple[Any, ...]]:
    return {tuple(row[f] for f in ("group", "currency", *fields)) for row in body["rows"]}


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        (
            "rep",
            {
                ("alice", "EUR", "35.83", 2),
                ("alice", "NOK", "87.49", 1),
                ("carol", "EUR", "50.00", 1),
            },
        ),
        (
            "territory",
            {
                ("territory:north", "EUR", "35.83", 2),
                ("territory:south", "EUR", "50.00", 1),
                (None, "NOK", "87.49", 1),
            },
        ),
        (
            "day",
            {
                ("2024-05-01", "EUR", "10.00", 1),
                ("2024-05-02", "EUR", "25.83", 1),
                ("2024-05-03", "EUR", "50.00", 1),
                ("2024-05-03", "NOK", "87.49", 1),
            },
        ),
    ],
)
async def test_sales_by_order_totals(api: World, group_by: str, expected: set[Any]) -> None:  # noqa: F811
    await seed(api)
    body = await report(api, "sales", group_by=group_by, **RANGE)
    assert table(body, "amount", "orders") == expected
    assert body["totals"] == [
        {"currency": "EUR", "amount": "85.83", "orders": 3},
        {"currency": "NOK", "amount": "87.49", "orders": 1},
    ]
    assert (body["from"], body["to"], body["group_by"]) == ("2024-05-01", "2024-05-10", group_by)
    assert body["statuses"] == ["confirmed", "shipped", "invoiced"]


async def test_sales_by_product_sums_line_amounts(api: World) -> None:  # noqa: F811
    await seed(api)
    body = await report(api, "sales", user="olga", group_by="product", **RANGE)
    assert table(body, "amount", "lines", "quantity") == {
        ("SKU-1", "EUR", "72.50", 2, 6),  # 2 x 12.50 x 0.9 + 4 x 12.50 (confirmed qty wins)
        ("SKU-1", "NOK", "87.49", 1, 1),  # 99.99 x 0.875 = 87.49125
        ("SKU-2", "EUR", "13.33", 2, 4),  # 3.333 + 9.999 = 13.332, rounded once
    }
    assert body["totals"] == [
        {"currency": "EUR", "amount": "85.83", "orders": None},
        {"currency": "NOK", "amount": "87.49", "orders": None},
    ]


async def test_sales_follow_later_changes(api: World) -> None:  # noqa: F811
    await seed(api)
    assert len((await report(api, "sales", group_by="rep", **RANGE))["rows"]) == 3
    # the back office rejects o2 after all: carol's sale disappears from the (updated) view
    couch, dbs = api.couch, api.dbs
    o2 = await couch.get(dbs.orders, "order:o2")
    await couch.put(dbs.orders, {**o2, "status": "rejected", "rejection_reason": "no stock"})
    body = await report(api, "sales", group_by="rep", **RANGE)
    assert table(body, "amount", "orders") == {
        ("alice", "EUR", "35.83", 2),
        ("alice", "NOK", "87.49", 1),
    }


async def test_visit_coverage_per_assignee(api: World) -> None:  # noqa: F811
    await seed(api)
    body = await report(api, "visits", **RANGE)
    assert body["rows"] == [
        {"assignee_id": "alice", "planned": 1, "done": 1, "in_progress": 0, "open": 0,
         "cancelled": 0, "coverage_pct": 100.0},
        {"assignee_id": "bob", "planned": 3, "done": 1, "in_progress": 1, "open": 1,
         "cancelled": 1, "coverage_pct": 33.3},
    ]  # fmt: skip
    assert body["totals"] == {"planned": 4, "done": 2, "in_progress": 1, "open": 1,
                              "cancelled": 1, "coverage_pct": 50.0}  # fmt: skip
    empty = await report(api, "visits", **{"from": "2023-01-01", "to": "2023-02-01"})
    assert empty["rows"] == [] and empty["totals"]["coverage_pct"] is None


async def test_default_range_is_the_last_30_days(api: World) -> None:  # noqa: F811
    body = await report(api, "sales")
    assert (date.fromisoformat(body["to"]) - date.fromisoformat(body["from"])).days == 30
    assert body["rows"] == [] and body["totals"] == []


@pytest.mark.parametrize("user", ["alice", "bob"])
async def test_field_users_may_not_read_reports(api: World, user: str) -> None:  # noqa: F811
    async with api.http(user) as http:
        for path in ("sales", "visits"):
            assert_problem(await http.get(f"/api/v1/reports/{path}"), 403, "manager")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "2024-05-10", "to": "2024-05-10"}, ("before",)),
        ({"from": "2024-02-30", "to": "2024-03-10"}, ("from",)),
        ({"from": "2020-01-01", "to": "2024-01-01"}, ("366",)),
        ({"group_by": "colour"}, ("group_by",)),
        ({"to": "10.05.2024"}, ("to",)),
    ],
)
async def test_bad_report_requests_are_problems(
    api: World,  # noqa: F811
    params: dict[str, str],
    words: tuple[str, ...],
) -> None:
    async with api.http("max") as http:
        assert_problem(await http.get("/api/v1/reports/sales", params=params), 422, *words)


async def test_design_documents_never_reach_a_rep_database(service_factory: Any) -> None:
    """The report views live in fs_orders / fs_field; the router copies documents, not them."""
    service = await service_factory()
    world = World(service, await login(service.url, "admin", "admin-pass"))
    await add_user(world, "alice", "rep")
    couch, dbs = world.couch, world.dbs
    async with world.http(headers={"Authorization": f"Bearer {world.admin_token}"}) as http:
        for path in ("sales", "visits"):  # the views are created on first use
            assert (await http.get(f"/api/v1/reports/{path}")).status_code == 200
    assert await couch.get_or_none(dbs.orders, "_design/fs_reports") is not None
    assert await couch.get_or_none(dbs.field, "_design/fs_reports") is not None
    mine = order("mine", "confirmed", "EUR", "alice", "a1", at="2024-05-02T10:00:00.000Z",
                 lines=[line("l1", "SKU-1", 1, "1.00")])  # fmt: skip
    await couch.put(dbs.orders, mine)
    visit = sample("visit", _id="visit:mine", assignee_id="alice")
    await couch.put(dbs.field, visit)

    async def copied() -> bool:
        found = await couch.all_docs(dbs.rep("alice"), keys=["order:mine", "visit:mine"])
        return all("error" not in r and "value" in r for r in found["rows"])

    await wait_until(copied, timeout=60, message="the router copied alice's order and visit")
    designs = await couch.all_docs(dbs.rep("alice"), startkey="_design/", endkey="_design0")
    assert designs["rows"] == []
