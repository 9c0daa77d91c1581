"""Routing rules and the assignment index, pure: tables per type plus hypothesis properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobile_schema import sample
from sync_gateway.router.assignments import Assignments
from sync_gateway.router.rules import EVERYONE, NOBODY, Targets, fan_in_target, fan_out_targets

# The world of these tables:
#   territory:north  rep_ids [alice]          territory:south  rep_ids [carol, dave]
#   account:cafe-nord in north (contact:kari)  account:sor in south (contact:sven)
#   price_list:std for north and south         price_list:south for south only
#   visit:v-1 and work_order:wo-1 of engineer bob at account:sor; note vn-1 by bob on v-1,
#   note vn-2 by erin on v-1
WORLD: list[dict[str, Any]] = [
    sample("territory", rep_ids=["alice"]),
    sample("territory", **{"_id": "territory:south"}, name="South", rep_ids=["carol", "dave"]),
    sample("account"),
    sample("account", **{"_id": "account:sor"}, territory_id="territory:south"),
    sample("contact"),
    sample("contact", **{"_id": "contact:sven"}, account_id="account:sor"),
    sample("price_list", territory_ids=["territory:north", "territory:south"]),
    sample("price_list", **{"_id": "price_list:south"}, territory_ids=["territory:south"]),
    sample("product"),
    sample("visit", account_id="account:sor"),
    sample("work_order", account_id="account:sor"),
    sample("visit_note"),
    sample("visit_note", **{"_id": "visit_note:vn-2"}, author_id="erin"),
    sample("order"),
]


def world() -> Assignments:
    index = Assignments()
    index.load(WORLD)
    return index


def by_id(doc_id: str) -> dict[str, Any]:
    return next(d for d in WORLD if d["_id"] == doc_id)


@pytest.mark.parametrize(
    ("doc_id", "expected"),
    [
        ("product:SKU-1", EVERYONE),
        ("territory:north", Targets(frozenset({"alice"}))),
        ("territory:south", Targets(frozenset({"carol", "dave"}))),
        ("account:cafe-nord", Targets(frozenset({"alice"}))),
        # bob has no territory; his visit and work order at account:sor bring him the account
        ("account:sor", Targets(frozenset({"carol", "dave", "bob"}))),
        ("contact:kari", Targets(frozenset({"alice"}))),
        ("contact:sven", Targets(frozenset({"carol", "dave", "bob"}))),
        ("price_list:std", Targets(frozenset({"alice", "carol", "dave"}))),
        ("price_list:south", Targets(frozenset({"carol", "dave"}))),
        ("order:o-1", Targets(frozenset({"alice"}))),
        ("visit:v-1", Targets(frozenset({"bob"}))),
        ("work_order:wo-1", Targets(frozenset({"bob"}))),
        ("visit_note:vn-1", Targets(frozenset({"bob"}))),
        ("visit_note:vn-2", Targets(frozenset({"bob", "erin"}))),
    ],
)
def test_fan_out_targets_per_type(doc_id: str, expected: Targets) -> None:
    index = world()
    assert fan_out_targets(by_id(doc_id), index) == expected
    assert index.targets(doc_id) == expected


@pytest.mark.parametrize(
    "doc",
    [
        sample("notification"),
        sample("conflict_record"),
        {"_id": "user:alice", "type": "user"},
        sample("work_order", assignee_id=None),
        sample("contact", account_id="account:missing"),
        sample("price_list", territory_ids=[]),
    ],
)
def test_documents_nobody_gets(doc: dict[str, Any]) -> None:
    assert fan_out_targets(doc, world()) == NOBODY


def test_a_documents_own_fields_win_over_the_index() -> None:
    moved = sample("account", territory_id="territory:south")
    assert fan_out_targets(moved, world()) == Targets(frozenset({"carol", "dave"}))


@pytest.mark.parametrize(
    ("doc", "user", "expected"),
    [
        (sample("order"), "alice", "orders"),
        (sample("order"), "carol", None),
        (sample("visit"), "bob", "field"),
        (sample("visit"), "alice", None),
        (sample("work_order"), "bob", "field"),
        (sample("work_order", assignee_id=None), "bob", None),
        (sample("visit_note"), "bob", "field"),
        (sample("visit_note", author_id="erin"), "bob", None),
        (sample("product"), "alice", None),
        (sample("price_list"), "alice", None),
        (sample("account"), "alice", None),
        (sample("contact"), "alice", None),
        (sample("territory"), "alice", None),
        (sample("notification"), "alice", None),
    ],
)
def test_fan_in_target(doc: dict[str, Any], user: str, expected: str | None) -> None:
    assert fan_in_target(doc, user) == expected


def test_members_of_an_engineer_without_territory() -> None:
    assert world().members("bob") == {
        "product:SKU-1",
        "visit:v-1",
        "work_order:wo-1",
        "visit_note:vn-1",
        "visit_note:vn-2",
        "account:sor",
        "contact:sven",
    }


def test_losing_a_territory_is_a_delta_of_its_accounts_contacts_and_price_lists() -> None:
    index = world()
    delta = index.apply_doc(sample("territory", rep_ids=["carol"]), deleted=False)
    assert delta.lost == {
        "alice": {"territory:north", "account:cafe-nord", "contact:kari", "price_list:std"}
    }
    assert delta.gained == {"carol": {"territory:north", "account:cafe-nord", "contact:kari"}}


def test_reassigning_a_visit_moves_it_its_notes_and_its_account() -> None:
    index = world()
    delta = index.apply_doc(sample("visit", account_id="account:sor", assignee_id="erin"),
                            deleted=False)  # fmt: skip
    # bob keeps vn-1 (he wrote it) and account:sor (his work order is still there)
    assert delta.lost == {"bob": {"visit:v-1", "visit_note:vn-2"}}
    assert delta.gained == {"erin": {"visit:v-1", "visit_note:vn-1", "account:sor",
                                     "contact:sven"}}  # fmt: skip


def test_an_edit_that_changes_no_routing_field_is_no_delta() -> None:
    index = world()
    assert not index.apply_doc(sample("account", name="Renamed"), deleted=False)
    assert not index.apply_doc(sample("order", note="x"), deleted=False)


def test_deleting_an_account_takes_its_contacts_along() -> None:
    index = world()
    delta = index.apply_doc({"_id": "account:cafe-nord", "_deleted": True}, deleted=True)
    assert delta.lost == {"alice": {"account:cafe-nord", "contact:kari"}}


# -- properties ----------------------------------------------------------------------------

USERS = st.sampled_from(["alice", "bob", "carol"])
TERRITORIES = st.sampled_from(["territory:t1", "territory:t2", "territory:t3"])
ACCOUNTS = st.sampled_from(["account:a1", "account:a2", "account:a3"])


@st.composite
def routed_doc(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(
        ["territory", "account", "contact", "price_list", "visit", "work_order", "visit_note",
         "order", "product"]))  # fmt: skip
    n = draw(st.integers(1, 3))
    if kind == "territory":
        return {"_id": draw(TERRITORIES), "type": kind,
                "rep_ids": draw(st.lists(USERS, max_size=3))}  # fmt: skip
    if kind == "account":
        return {"_id": draw(ACCOUNTS), "type": kind, "territory_id": draw(TERRITORIES)}
    if kind == "contact":
        return {"_id": f"contact:c{n}", "type": kind, "account_id": draw(ACCOUNTS)}
    if kind == "price_list":
        return {"_id": f"price_list:p{n}", "type": kind,
                "territory_ids": draw(st.lists(TERRITORIES, max_size=2))}  # fmt: skip
    if kind in ("visit", "work_order"):
        return {"_id": f"{kind}:{n}", "type": kind, "assignee_id": draw(USERS),
                "account_id": draw(ACCOUNTS)}  # fmt: skip
    if kind == "visit_note":
        visit = f"visit:{draw(st.integers(1, 3))}"
        return {"_id": f"visit_note:n{n}", "type": kind, "visit_id": visit,
                "author_id": draw(USERS)}  # fmt: skip
    if kind == "order":
        return {"_id": f"order:o{n}", "type": kind, "rep_id": draw(USERS)}
    return {"_id": f"product:p{n}", "type": kind}


EVENTS = st.lists(st.tuples(routed_doc(), st.booleans()), max_size=25)


def _membership(index: Assignments, ids: set[str]) -> dict[str, set[str]]:
    return {u: {d for d in ids if index.targets(d).includes(u)} for u in ("alice", "bob", "carol")}


@settings(max_examples=150, deadline=None)
@given(EVENTS)
def test_members_agree_with_targets(events: list[tuple[dict[str, Any], bool]]) -> None:
    index = Assignments()
    for doc, deleted in events:
        index.apply_doc(doc, deleted=deleted)
    ids = {doc["_id"] for doc, _ in events}
    for user, expected in _membership(index, ids).items():
        assert index.members(user) == expected


@settings(max_examples=150, deadline=None)
@given(EVENTS)
def test_deltas_replayed_on_a_membership_give_the_final_membership(
    events: list[tuple[dict[str, Any], bool]],
) -> None:
    # What the worker does: start from nothing, apply each delta; products travel by fan-out.
    index = Assignments()
    held: dict[str, set[str]] = {u: set() for u in ("alice", "bob", "carol")}
    for doc, deleted in events:
        delta = index.apply_doc(doc, deleted=deleted)
        for user, ids in delta.gained.items():
            held[user] |= ids
        for user, ids in delta.lost.items():
            held[user] -= ids
    ids = {doc["_id"] for doc, _ in events if not doc["_id"].startswith("product:")}
    assert held == _membership(index, ids)
