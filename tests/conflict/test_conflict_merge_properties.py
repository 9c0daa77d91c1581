"""Properties with generators of their own: leaves derived from a real common ancestor by short
runs of device and office edits, with clock skew, money of 0-4 decimals, Cyrillic, accents,
decomposed "é", emoji with joiners, tabs and CRLF, repeated lines, 2 to 4 leaves.

- text merge oracle (2 and 3+ sides): every line a side typed is in the merge (as often as
  that side added it); a line no side added is in the merge no more often than in the ancestor
  less what the most deleting side deleted;
- every merge output of every document type validates (``validate_document``), orders of
  schema 1 and 2 mixed included, and its conflict record does too.

Budget: hypothesis' default (100 examples each) in the suite;
``pytest tests/conflict --hypothesis-profile=long`` (or ``FIELDSYNC_HYPOTHESIS_PROFILE=long``)
runs 2,000 each (see README, "Decisions").
"""

from __future__ import annotations

import copy
from collections import Counter
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conflict import Leaf, merge
from conflict.fallback import safe_plan
from conflict.records import conflict_record
from conflict.textmerge import keep_all, merge_many
from mobile_schema import (
    order_total,
    sample,
    sample_checklist_item,
    sample_order_v1,
    upgrade_document,
    validate_document,
)

BASE_LINES = ["ok", "Pump checked", "Клапан течёт", "café", "cafe\u0301", "\tindented", "x\r", ""]
TYPED_LINES = ["ok", "new", "Клапан течёт", "👩\u200d🔧 done", "e\u0301", "", "pump\r", "🇳🇴"]

TIMES = [f"2024-05-01T{h:02d}:{m:02d}:00.000Z" for h in (6, 9, 12) for m in (0, 30)]
SKEWED = st.sampled_from([*TIMES, "2023-12-31T23:59:59.999Z", "2030-01-01T00:00:00.000Z"])


#: Lines typed where no ancestor line is alike: the alignment with the ancestor is unambiguous.
FRESH_LINES = ["new", "👩\u200d🔧 done", "e\u0301", "pump\r", "🇳🇴", "Новая строка"]


@st.composite
def edited(draw: st.DrawFn, base: list[str], typed: list[str] = TYPED_LINES) -> list[str]:
    """``base`` with some lines deleted and some typed lines inserted (a side's short run)."""
    out: list[str] = []
    for gap in range(len(base) + 1):
        out += draw(st.lists(st.sampled_from(typed), max_size=2))
        if gap < len(base) and draw(st.integers(0, 3)):
            out.append(base[gap])
    return out


Case = tuple[list[str], list[list[str]], bool]


@st.composite
def text_case(draw: st.DrawFn, sides: st.SearchStrategy[int]) -> Case:
    """Repeated lines (an ancestor line typed again, the same line many times), or distinct
    ancestor lines and fresh typed ones (``strict``: deletions can be checked by counting)."""
    strict = draw(st.booleans())
    if strict:
        base = draw(st.lists(st.sampled_from(BASE_LINES[:-1]), max_size=6, unique=True))
        return base, [draw(edited(base, FRESH_LINES)) for _ in range(draw(sides))], True
    base = draw(st.lists(st.sampled_from(BASE_LINES), max_size=6))
    return base, [draw(edited(base)) for _ in range(draw(sides))], False


def check_oracle(base: list[str], sides: list[list[str]], strict: bool) -> None:
    merged = merge_many("\n".join(base), ["\n".join(s) for s in sides]).text.split("\n")
    got = Counter(merged)
    # count lines as the merge sees them ("\n".join of [] is "", one empty line)
    before = Counter("\n".join(base).split("\n"))
    after = [Counter("\n".join(s).split("\n")) for s in sides]
    for value in set(before).union(*after):
        # every line a side typed is there, as often as that side added it
        added = max(c[value] - before[value] for c in after)
        assert got[value] >= added, (value, "typed line lost")
        if strict and value in before:
            # an ancestor line deleted by a side (and typed by none) is gone
            deleted = max(before[value] - c[value] for c in after)
            assert got[value] <= before[value] - deleted, (value, "deleted line came back")


@settings(deadline=None)
@given(text_case(st.just(2)))
def test_text_oracle_two_sides(case: Case) -> None:
    check_oracle(*case)


@settings(deadline=None)
@given(text_case(st.integers(3, 5)))
def test_text_oracle_three_or_more_sides(case: Case) -> None:
    check_oracle(*case)


@settings(deadline=None)
@given(st.lists(st.lists(st.sampled_from(TYPED_LINES), max_size=4), min_size=1, max_size=4),
       st.booleans())  # fmt: skip
def test_keep_all_keeps_the_line_ending(texts: list[list[str]], crlf: bool) -> None:
    nl = "\r\n" if crlf else "\n"
    bodies = [nl.join(t.rstrip("\r") for t in lines) for lines in texts]
    merged = keep_all(bodies)
    if crlf and any(nl in body for body in bodies):  # one-line texts say nothing of the ending
        assert "\n" not in merged.replace("\r\n", ""), "a bare LF in a CRLF text"
    for body in bodies:
        for piece in body.split(nl):
            assert piece in merged


# -- every merge output validates -----------------------------------------------------------

MONEY = st.builds(
    lambda units, places, digits: (
        str(Decimal(units) + Decimal(digits) / 10**places) if places else str(units)
    ),
    st.integers(0, 500),
    st.integers(0, 4),
    st.integers(0, 9999),
).map(lambda text: text if len(text.split(".")[-1]) <= 4 else text[: text.index(".") + 5])
QTY = st.integers(0, 20) | st.sampled_from([0.5, 1.25, 2.0])


def v2_line(line_id: str, at: str, qty: Any, price: str, discount: Any) -> dict[str, Any]:
    return {"line_id": line_id, "sku": "SKU-1", "qty": qty, "unit_price": price,
            "discount_pct": discount, "confirmed_qty": None, "deleted": False,
            "updated_at": at}  # fmt: skip


def with_total(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["schema_version"] == 2:
        doc["total"] = order_total(doc["lines"])
    return doc


@st.composite
def order_leaves(draw: st.DrawFn) -> tuple[list[Leaf], dict[str, Any] | None]:
    old_app = draw(st.booleans())
    ids = [f"l{i}" for i in range(draw(st.integers(1, 3)))]
    if old_app:
        lines = [{"line_id": i, "sku": "SKU-1", "qty": draw(QTY), "price": float(draw(MONEY)),
                  "discount": draw(st.sampled_from([0, 0.1, 0.25])), "deleted": False,
                  "updated_at": TIMES[0]} for i in ids]  # fmt: skip
        ancestor = sample_order_v1(_id="order:o1", rep_id="rep1", lines=lines, status="submitted",
                                   updated_at=TIMES[0], updated_by="rep1")  # fmt: skip
    else:
        lines = [v2_line(i, TIMES[0], draw(QTY), draw(MONEY), draw(st.sampled_from([0, 10])))
                 for i in ids]  # fmt: skip
        ancestor = sample("order", _id="order:o1", rep_id="rep1", lines=lines,
                          status="submitted", updated_at=TIMES[0], updated_by="rep1")  # fmt: skip
    validate_document(ancestor)
    leaves = []
    for n in range(draw(st.integers(2, 4))):
        at = draw(SKEWED)
        if draw(st.integers(0, 7)) == 0:
            leaves.append(Leaf(f"2-d{n}", {"_id": "order:o1", "_rev": f"2-d{n}", "_deleted": True},
                               deleted=True))  # fmt: skip
            continue
        if draw(st.booleans()):  # the office, always at the current schema
            doc = upgrade_document(ancestor)
            doc["status"] = draw(st.sampled_from(["confirmed", "shipped", "rejected", "cancelled"]))
            doc["confirmed_at"] = at
            for line in doc["lines"]:
                if draw(st.booleans()):
                    line["confirmed_qty"] = draw(QTY)
                if draw(st.booleans()):
                    line["unit_price"] = draw(MONEY)
            doc["updated_by"] = "bo1"
        else:  # a rep's device, in the ancestor's schema
            doc = copy.deepcopy(ancestor)
            for _ in range(draw(st.integers(0, 3))):
                edit = draw(st.sampled_from(["qty", "add", "delete", "note"]))
                if edit == "note":
                    doc["note"] = draw(st.sampled_from(["ring twice", "Доставка", "café\tback"]))
                    continue
                line_at = draw(SKEWED)
                if edit == "add":
                    new = v2_line(f"n{n}{len(doc['lines'])}", line_at, draw(QTY), draw(MONEY), 0)
                    if old_app:
                        kept = {k: new[k] for k in ("line_id", "sku", "qty", "deleted")}
                        new = {**kept, "price": float(new["unit_price"]), "updated_at": line_at}
                    doc["lines"].append(new)
                else:
                    target = doc["lines"][draw(st.integers(0, len(doc["lines"]) - 1))]
                    target["updated_at"] = line_at
                    if edit == "qty":
                        target["qty"] = draw(QTY)
                    else:
                        target["deleted"] = True
        doc.update(updated_at=at, _rev=f"2-r{n}", _revisions={"start": 2, "ids": [f"r{n}", "a"]})
        leaves.append(Leaf(f"2-r{n}", validated(with_total(doc))))
    return leaves, draw(st.sampled_from([ancestor, None]))


def validated(doc: dict[str, Any]) -> dict[str, Any]:
    validate_document(doc)
    return doc


NOTE_LINES = st.lists(st.sampled_from(BASE_LINES + TYPED_LINES), max_size=5)


@st.composite
def note_leaves(draw: st.DrawFn) -> tuple[list[Leaf], dict[str, Any] | None]:
    long = draw(st.integers(0, 9)) == 0  # now and then two long texts side by side
    base_lines = draw(NOTE_LINES) + (["w" * 99] * 110 if long else [])
    items = [sample_checklist_item(item_id=f"c{i}", updated_at=TIMES[0]) for i in range(2)]
    ancestor = sample("visit_note", _id="visit_note:n1", author_id="eng1", updated_by="eng1",
                      text="\n".join(base_lines), checklist=items,
                      updated_at=TIMES[0])  # fmt: skip
    leaves = []
    for n in range(draw(st.integers(2, 4))):
        doc = copy.deepcopy(ancestor)
        lines = draw(edited(base_lines))
        if long:
            lines += [f"side {n} " + "z" * 90] * 60
        doc["text"] = "\n".join(lines)[:20_000]
        for item in doc["checklist"]:
            if draw(st.booleans()):
                item.update(done=not item["done"], updated_at=draw(SKEWED))
        if draw(st.booleans()):
            doc["checklist"].append(sample_checklist_item(item_id=f"n{n}", updated_at=TIMES[1]))
        doc.update(updated_at=draw(SKEWED), _rev=f"2-r{n}")
        doc["_revisions"] = {"start": 2, "ids": [f"r{n}", "a"]}
        leaves.append(Leaf(f"2-r{n}", validated(doc)))
    return leaves, draw(st.sampled_from([ancestor, None]))


# For the last-writer types: a field a person changes, and values to change it to.
LWW_EDITS: dict[str, tuple[str, list[Any]]] = {
    "product": ("name", ["Café 1 kg", "Кофе", "Beans 👍🏽"]),
    "price_list": ("name", ["Standard", "Großhandel"]),
    "account": ("address", ["Storgata 1", "Straße 2\tOslo"]),
    "contact": ("phone", ["+47 1", "+47 2"]),
    "territory": ("rep_ids", [["alice"], ["alice", "bob"]]),
    "visit": ("status", ["planned", "in_progress", "done"]),
    "work_order": ("resolution", [None, "Gasket replaced", "Прокладка"]),
    "notification": ("read", [True, False]),
}


@st.composite
def lww_leaves(draw: st.DrawFn) -> tuple[list[Leaf], dict[str, Any] | None]:
    doc_type = draw(st.sampled_from(sorted(LWW_EDITS)))
    field, values = LWW_EDITS[doc_type]
    ancestor = sample(doc_type)
    leaves = []
    for n in range(draw(st.integers(2, 4))):
        doc = {**copy.deepcopy(ancestor), field: draw(st.sampled_from(values))}
        doc.update(updated_at=draw(SKEWED), _rev=f"2-r{n}")
        leaves.append(Leaf(f"2-r{n}", validated(doc)))
    return leaves, draw(st.sampled_from([ancestor, None]))


any_case = order_leaves() | note_leaves() | lww_leaves()


# no max_examples here: the profile decides (the suite's default, or --hypothesis-profile=long)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_case)
def test_every_merge_output_validates(case: tuple[list[Leaf], dict[str, Any] | None]) -> None:
    leaves, ancestor = case
    result = merge(leaves, ancestor)
    if not result.deleted:
        validate_document(result.body)
    plan = safe_plan(leaves, ancestor)
    if plan.merged_rev is not None:
        validate_document(plan.body)
        assert plan.result.strategy != "kept-shared-winner", plan.result.notes
        record = conflict_record(plan.body["_id"], [leaf.rev for leaf in leaves], plan, TIMES[0])
        assert set(record["user_ids"]) == set(plan.result.user_ids)
