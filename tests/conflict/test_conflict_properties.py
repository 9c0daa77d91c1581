"""Hypothesis properties of every merge: deterministic, independent of leaf order, idempotent,
nothing lost without a record, the same revision ids whoever resolves."""

from __future__ import annotations

from typing import Any

from conflict_builders import T0, T1, T2, T3, stub
from hypothesis import given, settings
from hypothesis import strategies as st

from conflict import Leaf, merge, resolution_plan
from conflict.orders import STATUS_RANK
from conflict.textmerge import contains_block
from mobile_schema.money import order_total

TIMES = st.sampled_from([T0, T1, T2, T3])
REVS = st.builds(
    lambda gen, digest: f"{gen}-{digest}", st.integers(1, 4), st.sampled_from("abcdef")
)
EXAMPLES = settings(max_examples=150, deadline=None)

order_line = st.fixed_dictionaries(
    {
        "line_id": st.sampled_from(["l1", "l2", "l3"]),
        "sku": st.just("S"),
        "qty": st.integers(1, 5),
        "unit_price": st.sampled_from(["9.00", "10.00", "12.50"]),
        "discount_pct": st.sampled_from([0, 10]),
        "confirmed_qty": st.none() | st.integers(0, 5),
        "deleted": st.booleans(),
        "updated_at": TIMES,
    }
)
order_body = st.fixed_dictionaries(
    {
        "_id": st.just("order:o1"),
        "type": st.just("order"),
        "schema_version": st.integers(1, 2),
        "rep_id": st.just("rep1"),
        "account_id": st.sampled_from(["account:a1", "account:a2"]),
        "status": st.sampled_from(list(STATUS_RANK)),
        "note": st.sampled_from(["", "call first", "back door"]),
        "submitted_at": st.none() | TIMES,
        "confirmed_at": st.none() | TIMES,
        "lines": st.lists(order_line, max_size=3, unique_by=lambda ln: ln["line_id"]),
        "updated_at": TIMES,
        "updated_by": st.sampled_from(["rep1", "bo1", "device-7"]),
    }
)
text = st.lists(st.sampled_from(["pump", "valve", "filter", "ok", ""]), max_size=4).map("\n".join)
check_item = st.fixed_dictionaries(
    {
        "item_id": st.sampled_from(["i1", "i2"]),
        "label": st.just("check"),
        "done": st.booleans(),
        "updated_at": TIMES,
    }
)
note_body = st.fixed_dictionaries(
    {
        "_id": st.just("order:o1"),
        "type": st.just("visit_note"),
        "visit_id": st.just("visit:v1"),
        "author_id": st.sampled_from(["eng1", "eng2"]),
        "text": text,
        "checklist": st.lists(check_item, max_size=2, unique_by=lambda i: i["item_id"]),
        "_attachments": st.dictionaries(
            st.sampled_from(["a.jpg", "b.jpg"]), st.sampled_from(["d1", "d2", "d3"]).map(stub)
        ),
        "updated_at": TIMES,
        "updated_by": st.sampled_from(["eng1", "eng2"]),
    }
)
visit_body = st.fixed_dictionaries(
    {
        "_id": st.just("order:o1"),
        "type": st.just("visit"),
        "status": st.sampled_from(["planned", "in_progress", "done"]),
        "check_in": st.none() | TIMES,
        "updated_at": TIMES,
        "updated_by": st.sampled_from(["eng1", "mgr1"]),
    }
)


def leaves_of(body: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[Leaf]]:
    one = st.tuples(REVS, body, st.integers(0, 5)).map(
        lambda t: (
            Leaf(t[0], t[1], deleted=False)
            if t[2]
            else Leaf(t[0], {"_id": "order:o1", "_deleted": True}, deleted=True)
        )
    )
    return st.lists(one, min_size=1, max_size=4, unique_by=lambda leaf: leaf.rev)


any_leaves = leaves_of(order_body) | leaves_of(note_body) | leaves_of(visit_body)


@EXAMPLES
@given(any_leaves, st.randoms(use_true_random=False))
def test_independent_of_leaf_order(leaves: list[Leaf], rnd: Any) -> None:
    first = resolution_plan(leaves)
    shuffled = list(leaves)
    rnd.shuffle(shuffled)
    again = resolution_plan(shuffled + shuffled[:1])  # a leaf given twice counts once
    assert again == first
    assert again.merged_rev == first.merged_rev


def content(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "updated_by" and v != {}}


@EXAMPLES
@given(any_leaves)
def test_merged_body_absorbs_its_inputs(leaves: list[Leaf]) -> None:
    plan = resolution_plan(leaves)
    if plan.merged_rev is None:
        return
    body = plan.result.body
    merged = Leaf(plan.merged_rev, plan.body)
    # Merging the merged body with itself or with any live input again changes nothing.
    # (only the bookkeeping may differ: a lone leaf of the owner is kept as its author wrote it)
    twin = Leaf(plan.merged_rev.split("-")[0] + "-zz", plan.body)
    assert content(merge([merged, twin]).body) == content(body)
    for leaf in leaves:
        if not leaf.deleted:
            assert content(merge([merged, leaf]).body) == content(body)


@EXAMPLES
@given(leaves_of(order_body))
def test_orders_lose_no_line_without_record(leaves: list[Leaf]) -> None:
    result = merge(leaves)
    if result.deleted:
        return
    body = result.body
    merged = {ln["line_id"]: ln for ln in body["lines"]}
    live = [leaf for leaf in leaves if not leaf.deleted]
    assert STATUS_RANK[body["status"]] == max(STATUS_RANK[x.body["status"]] for x in live)
    if len(live) < 2:
        return  # a lone live leaf is kept as it is
    assert body["total"] == order_total(body["lines"])
    for leaf in live:
        for ln in leaf.body["lines"]:
            got = merged[ln["line_id"]]  # no line ever disappears from the order
            differs = [k for k, v in ln.items() if v is not None and got.get(k) != v]
            if differs:
                assert any(
                    o.lost_rev == leaf.rev and o.what.startswith(f"lines[{ln['line_id']}]")
                    for o in result.overridden
                ), (ln, got, result.overridden)


@EXAMPLES
@given(leaves_of(note_body), st.none() | text)
def test_notes_lose_no_typed_text(leaves: list[Leaf], ancestor_text: str | None) -> None:
    ancestor = None
    if ancestor_text is not None:
        ancestor = {"type": "visit_note", "text": ancestor_text, "checklist": []}
    result = merge(leaves, ancestor)
    if result.deleted:
        return
    merged = result.body["text"].split("\n")
    base = ancestor_text.split("\n") if ancestor_text is not None else []
    for leaf in leaves:
        if leaf.deleted:
            continue
        if leaf.body["author_id"] != result.body["author_id"]:
            # another author's leaf is not merged into this note: it is on record, told to them
            assert any(o.lost_rev == leaf.rev for o in result.overridden)
            assert leaf.body["author_id"] in result.user_ids
            continue
        typed = leaf.body["text"]
        if ancestor is None:
            block = typed.rstrip("\n").split("\n")
            assert not typed.strip("\n") or contains_block(merged, block)
        else:
            assert all(line in merged for line in typed.split("\n") if line not in base)
        # Every photo of every leaf is still there (perhaps under a new name).
        digests = {s["digest"] for s in result.body.get("_attachments", {}).values()}
        assert {s["digest"] for s in leaf.body["_attachments"].values()} <= digests
