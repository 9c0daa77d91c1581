"""Orders, the document reps create offline (``rep_<id>`` -> ``fs_orders``).

order (schema 2, current)::

    {"_id": "order:<id>", "type": "order", "schema_version": 2,
     "rep_id": "alice", "account_id": "account:<id>", "status": "draft", "currency": "EUR",
     "lines": [{"line_id": "l1", "sku": "SKU-1", "qty": 3, "unit_price": "12.50",
                "discount_pct": 10, "confirmed_qty": null, "deleted": false,
                "updated_at": "2024-05-01T08:30:00.000Z"}],
     "note": null, "submitted_at": null, "confirmed_at": null, "rejection_reason": null,
     "total": "33.75", "updated_at": ..., "updated_by": ...}

``total`` must equal :func:`mobile_schema.money.order_total` of the lines, exactly as that string
(two fraction digits): a device that computes it differently is told the expected value. Deleted
lines stay as tombstones (``deleted: true``) so a merge can tell "removed" from "never seen";
they count towards the 500-line limit and not towards the total. ``line_id`` is unique per order.

order (schema 1, apps before 2.0, still in the field)::

    lines: [{"line_id", "sku", "qty", "price": 12.5 (a JSON number), "discount": 0.1 (a fraction),
             "deleted": false, "updated_at"?}]   and no "total", no "confirmed_qty"

:mod:`mobile_schema.upgrades` turns a v1 order into v2.

Statuses: the rep owns ``draft`` and ``submitted``; the back office moves an order forward along
``draft < submitted < confirmed < shipped < invoiced``; ``rejected`` and ``cancelled`` are final.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from mobile_schema.base import Document, Strict
from mobile_schema.fields import (
    AccountRef,
    Currency,
    LocalId,
    Money,
    Note,
    Percent,
    Quantity,
    Sku,
    Timestamp,
    UserId,
    describe,
    fail,
    number_check,
)
from mobile_schema.money import order_total

MAX_ORDER_LINES = 500

OrderStatus = Literal[
    "draft", "submitted", "confirmed", "shipped", "invoiced", "rejected", "cancelled"
]
ORDER_STATUSES: Final[tuple[str, ...]] = (
    "draft",
    "submitted",
    "confirmed",
    "shipped",
    "invoiced",
    "rejected",
    "cancelled",
)
# The forward order of the non-final statuses; a merge keeps the highest rank.
ORDER_STATUS_RANK: Final[dict[str, int]] = {
    "draft": 0,
    "submitted": 1,
    "confirmed": 2,
    "shipped": 3,
    "invoiced": 4,
}
FINAL_ORDER_STATUSES: Final[frozenset[str]] = frozenset({"rejected", "cancelled"})
# Statuses a rep's device may write; anything else is the back office's.
REP_ORDER_STATUSES: Final[frozenset[str]] = frozenset({"draft", "submitted"})


class OrderLine(Strict):
    """One line of an order; merged by ``line_id`` using its own ``updated_at``."""

    line_id: LocalId
    sku: Sku
    qty: Quantity
    unit_price: Money
    discount_pct: Percent = 0
    confirmed_qty: Quantity | None = None
    deleted: bool = False
    updated_at: Timestamp


class _OrderCommon(Document):
    TYPE: ClassVar[str] = "order"
    type: Literal["order"]
    rep_id: UserId
    account_id: AccountRef
    status: OrderStatus
    currency: Currency
    note: Note | None = None
    submitted_at: Timestamp | None = None
    confirmed_at: Timestamp | None = None
    rejection_reason: Note | None = None

    def _check_line_ids(self, line_ids: list[str]) -> None:
        seen: set[str] = set()
        for index, line_id in enumerate(line_ids):
            if line_id in seen:
                raise fail(f"duplicate line_id {line_id!r}", field=f"lines[{index}].line_id")
            seen.add(line_id)


class Order(_OrderCommon):
    """An order at the current schema version (2)."""

    schema_version: Literal[2]
    lines: list[OrderLine] = Field(max_length=MAX_ORDER_LINES)
    total: Money

    def check(self) -> None:
        self._check_line_ids([line.line_id for line in self.lines])
        expected = order_total(line.model_dump() for line in self.lines)
        if self.total != expected:
            raise fail(
                f'must be "{expected}" (the total of the live lines), got {describe(self.total)}',
                field="total",
            )


V1Price = Annotated[
    int | float,
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 999_999_999_999}),
    BeforeValidator(number_check(0, 999_999_999_999, "a price >= 0")),
]
V1Fraction = Annotated[
    int | float,
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
    BeforeValidator(number_check(0, 1, "a discount fraction 0-1")),
]


class OrderLineV1(Strict):
    """A line as apps before 2.0 wrote it: a float price and a fractional discount."""

    line_id: LocalId
    sku: Sku
    qty: Quantity
    price: V1Price
    discount: V1Fraction = 0
    deleted: bool = False
    updated_at: Timestamp | None = None


class OrderV1(_OrderCommon):
    """An order at schema version 1 (no total; see the module docstring)."""

    schema_version: Literal[1]
    lines: list[OrderLineV1] = Field(max_length=MAX_ORDER_LINES)

    def check(self) -> None:
        self._check_line_ids([line.line_id for line in self.lines])
