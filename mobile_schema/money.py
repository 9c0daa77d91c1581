"""Money and order totals.

Money travels as a decimal string with two to four fraction digits (``"12.50"``); quantities are
JSON numbers. An order's ``total`` is the sum over its live lines (``deleted`` false) of
``effective_qty * unit_price * (1 - discount_pct / 100)``, where ``effective_qty`` is the back
office's ``confirmed_qty`` when set and the rep's ``qty`` otherwise; it is rounded half-up to
cents and rendered with exactly two fraction digits. Every component that shows or merges a total
calls :func:`order_total`, so a phone, the resolver and the back office agree to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def to_decimal(value: Any) -> Decimal:
    """Parse a money string or number into a Decimal; raise ValueError when it is not one."""
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


def format_money(value: Decimal) -> str:
    """Render a Decimal as the canonical two-digit money string."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def line_amount(line: Mapping[str, Any]) -> Decimal:
    """The amount of one order line, unrounded."""
    confirmed = line.get("confirmed_qty")
    qty = to_decimal(confirmed if confirmed is not None else line.get("qty", 0))
    price = to_decimal(line.get("unit_price", "0"))
    discount = to_decimal(line.get("discount_pct") or 0)
    return qty * price * (Decimal(1) - discount / Decimal(100))


def order_total(lines: Iterable[Mapping[str, Any]]) -> str:
    """The total of an order's live lines as a money string."""
    total = sum((line_amount(line) for line in lines if not line.get("deleted")), Decimal(0))
    return format_money(total)
