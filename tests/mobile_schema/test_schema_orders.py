"""Orders: generated valid orders validate and their totals are order_total's; constants."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobile_schema.errors import InvalidDocumentError
from mobile_schema.money import order_total
from mobile_schema.orders import (
    FINAL_ORDER_STATUSES,
    ORDER_STATUS_RANK,
    ORDER_STATUSES,
    REP_ORDER_STATUSES,
    Order,
)
from mobile_schema.registry import validate_document
from mobile_schema.samples import SAMPLE_TIME, sample

# Bounded so 20 lines stay within the 12 integer digits of a money string.
QTY = st.one_of(
    st.integers(min_value=0, max_value=100_000),
    st.floats(min_value=0, max_value=100_000, allow_nan=False, allow_infinity=False),
)
MONEY = st.from_regex(r"\A-?\d{1,5}(\.\d{1,4})?\Z")
PERCENT = st.one_of(
    st.integers(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)


@st.composite
def order_lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    line_ids = draw(st.lists(st.from_regex(r"\A[a-z0-9-]{1,12}\Z"), unique=True, max_size=20))
    lines = []
    for line_id in line_ids:
        line: dict[str, Any] = {
            "line_id": line_id,
            "sku": draw(st.sampled_from(["SKU-1", "SKU-2", "X.9"])),
            "qty": draw(QTY),
            "unit_price": draw(MONEY),
            "updated_at": SAMPLE_TIME,
        }
        # Optional fields appear or not, as different apps write them.
        if draw(st.booleans()):
            line["discount_pct"] = draw(PERCENT)
        if draw(st.booleans()):
            line["confirmed_qty"] = draw(st.none() | QTY)
        if draw(st.booleans()):
            line["deleted"] = draw(st.booleans())
        lines.append(line)
    return lines


@given(order_lines(), st.sampled_from(ORDER_STATUSES))
def test_generated_orders_validate_and_total_is_order_total(
    lines: list[dict[str, Any]], status: str
) -> None:
    doc = sample("order", lines=lines, status=status)
    before = copy.deepcopy(doc)
    model = validate_document(doc)
    assert isinstance(model, Order)
    assert doc == before
    assert model.total == order_total(lines)
    # The model's lines give the same total as the raw lines (nothing was converted).
    assert order_total(line.model_dump() for line in model.lines) == model.total


@given(order_lines())
def test_any_other_total_is_refused(lines: list[dict[str, Any]]) -> None:
    right = order_total(lines)
    wrong = str(Decimal(right) + Decimal("0.01"))
    with pytest.raises(InvalidDocumentError) as caught:
        validate_document(sample("order", lines=lines, total=wrong))
    assert f'"{right}"' in caught.value.reason and f'"{wrong}"' in caught.value.reason


@given(order_lines(), st.randoms())
def test_total_does_not_depend_on_line_order(lines: list[dict[str, Any]], rnd: Any) -> None:
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    assert order_total(shuffled) == order_total(lines)


@pytest.mark.parametrize(
    ("lines", "total"),
    [
        ([], "0.00"),
        ([{"qty": 3, "unit_price": "12.50", "discount_pct": 10}], "33.75"),
        ([{"qty": 1, "unit_price": "0.005"}], "0.01"),  # half-up
        ([{"qty": 1, "unit_price": "0.0049"}], "0.00"),
        ([{"qty": 2, "unit_price": "1.00", "confirmed_qty": 0}], "0.00"),
        ([{"qty": 2, "unit_price": "1.00", "deleted": True}], "0.00"),
        ([{"qty": 0.5, "unit_price": "3"}, {"qty": 1, "unit_price": "-1.25"}], "0.25"),
    ],
)
def test_order_total_table(lines: list[dict[str, Any]], total: str) -> None:
    assert order_total(lines) == total


def test_status_constants() -> None:
    assert set(ORDER_STATUS_RANK) | FINAL_ORDER_STATUSES == set(ORDER_STATUSES)
    ranked = sorted(ORDER_STATUS_RANK, key=ORDER_STATUS_RANK.__getitem__)
    assert ranked == ["draft", "submitted", "confirmed", "shipped", "invoiced"]
    assert FINAL_ORDER_STATUSES == {"rejected", "cancelled"}
    assert REP_ORDER_STATUSES == {"draft", "submitted"}
