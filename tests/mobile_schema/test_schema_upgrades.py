"""Upgrades: order schema 1 (float price, fractional discount, no total) -> schema 2."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobile_schema.errors import ClientNewerError, InvalidDocumentError
from mobile_schema.ids import DOCUMENT_TYPES
from mobile_schema.money import order_total
from mobile_schema.orders import Order, OrderV1
from mobile_schema.registry import validate_document
from mobile_schema.samples import LATER_TIME, SAMPLE_TIME, sample, sample_order_v1
from mobile_schema.upgrades import money_from_number, percent_from_fraction, upgrade_document


def test_v1_order_is_still_valid() -> None:
    assert isinstance(validate_document(sample_order_v1()), OrderV1)


def test_v1_order_upgrades_to_a_valid_v2_order() -> None:
    v1 = sample_order_v1(
        lines=[
            {"line_id": "l1", "sku": "SKU-1", "qty": 3, "price": 12.5, "discount": 0.1},
            {
                "line_id": "l2",
                "sku": "SKU-2",
                "qty": 2,
                "price": 0.1 + 0.2,
                "updated_at": LATER_TIME,
            },
            {"line_id": "l3", "sku": "SKU-3", "qty": 9, "price": 4, "deleted": True},
        ],
        _rev="2-abc",
    )
    before = copy.deepcopy(v1)
    v2 = upgrade_document(v1)
    assert v1 == before, "the input must not be mutated"
    assert isinstance(validate_document(v2), Order)
    assert v2["schema_version"] == 2
    assert v2["lines"] == [
        {
            "line_id": "l1",
            "sku": "SKU-1",
            "qty": 3,
            "unit_price": "12.50",
            "discount_pct": 10,
            "confirmed_qty": None,
            "deleted": False,
            "updated_at": SAMPLE_TIME,
        },
        {
            "line_id": "l2",
            "sku": "SKU-2",
            "qty": 2,
            "unit_price": "0.30",
            "discount_pct": 0,
            "confirmed_qty": None,
            "deleted": False,
            "updated_at": LATER_TIME,
        },
        {
            "line_id": "l3",
            "sku": "SKU-3",
            "qty": 9,
            "unit_price": "4.00",
            "discount_pct": 0,
            "confirmed_qty": None,
            "deleted": True,
            "updated_at": SAMPLE_TIME,
        },
    ]
    assert v2["total"] == "34.35" == order_total(v2["lines"])
    # Everything else is kept as it was, CouchDB fields included.
    for key in ("_id", "_rev", "rep_id", "account_id", "status", "updated_at", "updated_by"):
        assert v2[key] == v1[key]


def test_upgrade_is_idempotent() -> None:
    once = upgrade_document(sample_order_v1())
    twice = upgrade_document(once)
    assert twice == once
    assert twice is not once


@pytest.mark.parametrize("doc_type", DOCUMENT_TYPES)
def test_current_documents_come_back_equal(doc_type: str) -> None:
    doc = sample(doc_type)
    upgraded = upgrade_document(doc)
    assert upgraded == doc
    upgraded["updated_by"] = "changed"
    assert doc["updated_by"] == "admin", "the result must be a copy"


def test_invalid_v1_order_is_refused() -> None:
    bad = sample_order_v1(lines=[{"line_id": "l1", "sku": "A", "qty": 1, "price": "12.5"}])
    with pytest.raises(InvalidDocumentError, match=r"order\.lines\[0\]\.price"):
        upgrade_document(bad)
    with pytest.raises(InvalidDocumentError, match=r"discount"):
        upgrade_document(
            sample_order_v1(
                lines=[{"line_id": "l1", "sku": "A", "qty": 1, "price": 1, "discount": 10}]
            )
        )


def test_newer_than_server_is_refused() -> None:
    with pytest.raises(ClientNewerError, match="client is newer than the server"):
        upgrade_document(sample("order", schema_version=3))


@pytest.mark.parametrize(
    ("number", "money"),
    [
        (12.5, "12.50"),
        (12, "12.00"),
        (0, "0.00"),
        (0.1 + 0.2, "0.30"),
        (1.23456, "1.2346"),
        (1.005, "1.005"),
        (1e-05, "0.00"),
        (99.99, "99.99"),
        (123456789012, "123456789012.00"),
    ],
)
def test_money_from_number(number: float, money: str) -> None:
    assert money_from_number(number) == money


@pytest.mark.parametrize(
    ("fraction", "percent"), [(0, 0), (0.1, 10), (0.125, 12.5), (1, 100), (0.07, 7)]
)
def test_percent_from_fraction(fraction: float, percent: float) -> None:
    result = percent_from_fraction(fraction)
    assert result == percent and type(result) is type(percent)


V1_LINE = st.fixed_dictionaries(
    {
        "sku": st.sampled_from(["SKU-1", "SKU-2"]),
        "qty": st.integers(min_value=0, max_value=1000),
        "price": st.floats(min_value=0, max_value=100_000, allow_nan=False) | st.integers(0, 999),
        "discount": st.floats(min_value=0, max_value=1, allow_nan=False),
        "deleted": st.booleans(),
    }
)


@given(st.lists(V1_LINE, max_size=15))
def test_upgrade_keeps_what_the_customer_pays(lines: list[dict[str, Any]]) -> None:
    v1_lines = [{**line, "line_id": f"l{i}"} for i, line in enumerate(lines)]
    v2 = upgrade_document(sample_order_v1(lines=v1_lines))
    validate_document(v2)
    assert v2["total"] == order_total(v2["lines"])
    exact = sum(
        (
            Decimal(line["qty"])
            * Decimal(str(line["price"]))
            * (1 - Decimal(str(line["discount"])))
            for line in v1_lines
            if not line["deleted"]
        ),
        Decimal(0),
    )
    # Prices are rounded to 4 places (at most 0.00005 per unit) and the total to cents.
    slack = Decimal("0.005") + sum(Decimal(line["qty"]) for line in v1_lines) * Decimal("0.00005")
    assert abs(Decimal(v2["total"]) - exact) <= slack
