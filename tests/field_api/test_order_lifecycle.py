"""Order decisions: the transition table (pure), then confirm / reject / ship / invoice through
the API against PouchDB Server: new revisions, idempotent retries, quantities, 409s, roles."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from polling import wait_until
from support.orders_world import order, orders_world
from support.world import World

from field_api.services.order_lifecycle import Transition, decide
from mobile_schema import ORDER_STATUSES, sample_order_line, validate_document

NOW = "2024-05-02T10:00:00.000Z"

# (status before, action, status after | None for a no-op | "409")
TABLE: list[tuple[str, str, str | None]] = [
    ("submitted", "confirm", "confirmed"),
    ("confirmed", "confirm", None),
    ("draft", "confirm", "409"),
    ("shipped", "confirm", "409"),
    ("invoiced", "confirm", "409"),
    ("rejected", "confirm", "409"),
    ("cancelled", "confirm", "409"),
    ("submitted", "reject", "rejected"),
    ("confirmed", "reject", "rejected"),
    ("rejected", "reject", None),
    ("draft", "reject", "409"),
    ("shipped", "reject", "409"),
    ("invoiced", "reject", "409"),
    ("cancelled", "reject", "409"),
    ("confirmed", "ship", "shipped"),
    ("shipped", "ship", None),
    ("draft", "ship", "409"),
    ("submitted", "ship", "409"),
    ("invoiced", "ship", "409"),
    ("rejected", "ship", "409"),
    ("cancelled", "ship", "409"),
    ("shipped", "invoice", "invoiced"),
    ("invoiced", "invoice", None),
    ("draft", "invoice", "409"),
    ("submitted", "invoice", "409"),
    ("confirmed", "invoice", "409"),
    ("rejected", "invoice", "409"),
    ("cancelled", "invoice", "409"),
]


def stored(status: str, **kw: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"_rev": "2-abc"}
    if status == "rejected":
        extra["rejection_reason"] = "credit hold"
    return order("o-1", status=status, **extra, **kw)


@pytest.mark.parametrize(("before", "action", "after"), TABLE)
def test_transition_table(before: str, action: Any, after: str | None) -> None:
    doc = stored(before)
    reason = "credit hold" if action == "reject" else None
    if after == "409":
        with pytest.raises(Transition) as info:
            decide(doc, action, user_id="bo", now=NOW, reason=reason)
        assert before in info.value.reason
        return
    new = decide(doc, action, user_id="bo", now=NOW, reason=reason)
    if after is None:
        assert new is None
        return
    assert new is not None
    assert new["status"] == after
    assert (new["updated_at"], new["updated_by"]) == (NOW, "bo")
    validate_document(new)


def test_every_status_and_action_is_in_the_table() -> None:
    assert {(b, a) for b, a, _ in TABLE} == {
        (s, a) for s in ORDER_STATUSES for a in ("confirm", "reject", "ship", "invoice")
    }


def test_confirm_with_quantities_recomputes_the_total() -> None:
    lines = [
        sample_order_line(line_id="a", qty=4, unit_price="10.00", discount_pct=0),
        sample_order_line(line_id="b", qty=2, unit_price="3.00", discount_pct=50),
        sample_order_line(line_id="x", qty=9, unit_price="1.00", deleted=True),
    ]
    new = decide(
        stored("submitted", lines=lines),
        "confirm",
        user_id="bo",
        now=NOW,
        lines=[{"line_id": "a", "confirmed_qty": 1}],
    )
    assert new is not None
    assert [ln["confirmed_qty"] for ln in new["lines"]] == [1, 2, None]
    assert new["total"] == "13.00"  # 1 x 10 + 2 x 3 x 0.5
    assert new["confirmed_at"] == NOW
    validate_document(new)


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        ([{"line_id": "nope", "confirmed_qty": 1}], "is not a line"),
        ([{"line_id": "x", "confirmed_qty": 1}], "was deleted"),
        ([{"line_id": "a", "confirmed_qty": 1}, {"line_id": "a", "confirmed_qty": 2}], "twice"),
    ],
)
def test_confirm_with_bad_lines(lines: list[dict[str, Any]], fragment: str) -> None:
    doc = stored(
        "submitted",
        lines=[sample_order_line(line_id="a"), sample_order_line(line_id="x", deleted=True)],
    )
    with pytest.raises(ValueError, match=fragment):
        decide(doc, "confirm", user_id="bo", now=NOW, lines=lines)


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=5))
def test_confirming_twice_is_a_no_op(quantities: list[int]) -> None:
    lines = [sample_order_line(line_id=f"l{i}", qty=5) for i in range(len(quantities))]
    wanted = [{"line_id": f"l{i}", "confirmed_qty": q} for i, q in enumerate(quantities)]
    once = decide(stored("submitted", lines=lines), "confirm", user_id="bo", now=NOW, lines=wanted)
    assert once is not None
    assert decide(once, "confirm", user_id="bo", now=NOW, lines=wanted) is None
    assert decide(once, "confirm", user_id="bo", now=NOW) is None


# -- through the API -------------------------------------------------------------------------


@pytest.fixture
async def world(service: Any) -> World:
    return await orders_world(service)


async def post(world: World, user: str, path: str, body: Any = None) -> Any:
    async with world.http(user) as http:
        return await http.post(f"/api/v1/orders/{path}", json=body)


async def test_lifecycle_through_the_api(world: World) -> None:
    db = world.dbs.orders
    await world.couch.put(db, order("o-1"))
    resp = await post(world, "bo", "o-1/confirm", {})
    assert resp.status_code == 200, resp.text
    confirmed = resp.json()
    assert confirmed["status"] == "confirmed" and confirmed["_rev"].startswith("2-")
    assert confirmed["updated_by"] == "bo"
    stored_doc = await world.couch.get(db, "order:o-1", revs=True)
    assert stored_doc["_rev"] == confirmed["_rev"]
    assert stored_doc["_revisions"]["start"] == 2  # a child of the submitted revision

    # a retried confirm writes nothing and returns the same revision
    again = await post(world, "bo", "order:o-1/confirm", {})
    assert again.status_code == 200 and again.json()["_rev"] == confirmed["_rev"]

    for action, status in (("ship", "shipped"), ("invoice", "invoiced")):
        resp = await post(world, "bo", f"o-1/{action}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == status
        retry = await post(world, "bo", f"o-1/{action}", {})
        assert retry.json()["_rev"] == resp.json()["_rev"]
    assert (await world.couch.get(db, "order:o-1"))["_rev"].startswith("4-")


async def test_confirm_with_quantities_and_idempotent_retry(world: World) -> None:
    lines = [
        sample_order_line(line_id="a", qty=4, unit_price="10.00", discount_pct=0),
        sample_order_line(line_id="b", qty=1, unit_price="2.50", discount_pct=0),
    ]
    await world.couch.put(world.dbs.orders, order("q", lines=lines))
    body = {"lines": [{"line_id": "a", "confirmed_qty": 3}]}
    first = await post(world, "bo", "q/confirm", body)
    assert first.status_code == 200
    assert first.json()["total"] == "32.50"
    assert [ln["confirmed_qty"] for ln in first.json()["lines"]] == [3, 1]
    retry = await post(world, "bo", "q/confirm", body)
    assert retry.json()["_rev"] == first.json()["_rev"]
    other = await post(world, "bo", "q/confirm", {"lines": [{"line_id": "a", "confirmed_qty": 2}]})
    assert other.status_code == 409
    assert "already confirmed" in other.json()["detail"]
    bad = await post(world, "bo", "q/confirm", {"lines": [{"line_id": "zz", "confirmed_qty": 1}]})
    assert bad.status_code == 422
    negative = await post(
        world, "bo", "q/confirm", {"lines": [{"line_id": "a", "confirmed_qty": -1}]}
    )
    assert negative.status_code == 422


async def test_illegal_transitions_are_409_problems(world: World) -> None:
    await world.couch.bulk_docs(
        world.dbs.orders, [order("draft", status="draft"), order("sub"), order("rej")]
    )
    assert (await post(world, "bo", "rej/reject", {"reason": "credit hold"})).status_code == 200
    cases = [
        ("draft/ship", None, "draft"),
        ("draft/confirm", {}, "draft"),
        ("sub/ship", None, "confirm it first"),
        ("sub/invoice", None, "submitted"),
        ("rej/confirm", {}, "final"),
        ("rej/reject", {"reason": "another"}, "another reason"),
    ]
    for path, body, fragment in cases:
        resp = await post(world, "bo", path, body)
        assert resp.status_code == 409, path
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert fragment in resp.json()["detail"], (path, resp.json())
    rejected = await world.couch.get(world.dbs.orders, "order:rej")
    assert rejected["rejection_reason"] == "credit hold"
    assert (await post(world, "bo", "rej/reject", {"reason": ""})).status_code == 422
    assert (await post(world, "bo", "nope/confirm", {})).status_code == 404
    assert (await post(world, "bo", "sub/confirm", {"extra": 1})).status_code == 422


async def test_roles_on_decisions(world: World) -> None:
    await world.couch.put(world.dbs.orders, order("o-1"))
    for user in ("max", "alice", "bob"):
        resp = await post(world, user, "o-1/confirm", {})
        assert resp.status_code == 403, user
        assert resp.headers["content-type"].startswith("application/problem+json")
    async with world.http() as http:
        assert (await http.post("/api/v1/orders/o-1/confirm", json={})).status_code == 401
    assert (await world.couch.get(world.dbs.orders, "order:o-1"))["status"] == "submitted"


async def test_a_decision_on_an_order_in_conflict_is_merged_not_refused(world: World) -> None:
    # two devices of the rep edited the submitted order offline:
    #   1-a ── 2-b (note "phone")
    #       └─ 2-c (note "tablet")
    # the confirm is written on the winner at once; the resolver running in the service
    # merges whatever leaves exist then, and back-office progress wins
    db = world.dbs.orders
    base = order("cx")
    rev1 = (await world.couch.put(db, base))["rev"]
    h = rev1.split("-", 1)[1]
    for suffix, note in (("b" * 32, "phone"), ("c" * 32, "tablet")):
        doc = {
            **base,
            "note": note,
            "_rev": f"2-{suffix}",
            "_revisions": {"start": 2, "ids": [suffix, h]},
        }
        await world.couch.bulk_docs(db, [doc], new_edits=False)
    resp = await post(world, "bo", "cx/confirm", {})
    assert resp.status_code == 200
    assert resp.json()["status"] == "confirmed"

    async def settled() -> dict[str, Any] | None:
        doc = await world.couch.get(db, "order:cx", conflicts=True)
        return doc if not doc.get("_conflicts") and doc["status"] == "confirmed" else None

    merged = await wait_until(settled, timeout=30, message="the resolver's merge")
    assert merged["confirmed_at"] == resp.json()["confirmed_at"]
