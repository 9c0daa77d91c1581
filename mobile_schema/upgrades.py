"""Upgrades of documents written by older apps to the current schema version.

``upgrade_document(doc)`` validates ``doc`` at its own version, applies one step per version
until :data:`CURRENT_SCHEMA_VERSION`, validates the result and returns it as a new dict. It is
pure (the input is never mutated; no clock: ``updated_at`` / ``updated_by`` are kept, so two
resolvers upgrading the same leaf get the same body) and idempotent: a document already at the
current version comes back as an equal copy.

Steps:

order 1 -> 2
    Each line's ``price`` (a JSON number) becomes ``unit_price``, a money string with 2-4 fraction
    digits (rounded half-up at 4: ``12.5`` -> ``"12.50"``); ``discount`` (a fraction 0..1) becomes
    ``discount_pct`` (0..100: ``0.1`` -> ``10``); ``confirmed_qty`` is added as null; a line
    without ``updated_at`` takes the order's. ``total`` is computed with ``order_total``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from mobile_schema.errors import SchemaError
from mobile_schema.money import CENT, order_total
from mobile_schema.registry import CURRENT_SCHEMA_VERSION, validate_document

Step = Callable[[dict[str, Any]], dict[str, Any]]
_FOUR_PLACES = Decimal("0.0001")


def money_from_number(value: int | float) -> str:
    """A JSON number as a money string with 2-4 fraction digits (``12.5`` -> ``"12.50"``)."""
    amount = Decimal(str(value))  # str() of a float is its shortest round-tripping form
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        amount = amount.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
    text = format(amount.quantize(CENT) if amount == amount.quantize(CENT) else amount, "f")
    return text


def percent_from_fraction(value: int | float) -> int | float:
    """A fraction 0..1 as a percentage 0..100, an integer when it is whole (``0.1`` -> ``10``)."""
    percent = Decimal(str(value)) * 100
    return int(percent) if percent == percent.to_integral_value() else float(percent)


def _order_1_to_2(doc: dict[str, Any]) -> dict[str, Any]:
    lines = []
    for old in doc["lines"]:
        lines.append(
            {
                "line_id": old["line_id"],
                "sku": old["sku"],
                "qty": old["qty"],
                "unit_price": money_from_number(old["price"]),
                "discount_pct": percent_from_fraction(old.get("discount", 0)),
                "confirmed_qty": None,
                "deleted": old.get("deleted", False),
                "updated_at": old.get("updated_at") or doc["updated_at"],
            }
        )
    doc["lines"] = lines
    doc["total"] = order_total(lines)
    doc["schema_version"] = 2
    return doc


# (type, from_version) -> the step producing from_version + 1.
UPGRADES: Final[dict[tuple[str, int], Step]] = {
    ("order", 1): _order_1_to_2,
}


def upgrade_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` as a new dict at the current schema version of its type; SchemaError if invalid."""
    validate_document(doc)
    doc_type: str = doc["type"]
    version: int = doc["schema_version"]
    result = copy.deepcopy(dict(doc))
    while version < CURRENT_SCHEMA_VERSION[doc_type]:
        step = UPGRADES.get((doc_type, version))
        if step is None:
            raise SchemaError(f"{doc_type}.schema_version: no upgrade from version {version}")
        result = step(result)
        version += 1
    # A step that produces an invalid document is a bug here, not the device's fault; say so.
    try:
        validate_document(result)
    except SchemaError as exc:
        raise SchemaError(
            f"upgrade of {doc.get('_id')!r} produced an invalid document: {exc}"
        ) from exc
    return result
