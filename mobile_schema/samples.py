"""Valid example documents, one per type, for tests, the demo seed and docs.

``sample(doc_type, **overrides)`` returns a fresh dict that :func:`validate_document` accepts,
with fixed values (no clock, no randomness) so tests are repeatable. Overrides replace top-level
fields; pass :data:`DROP` to remove one (``sample("order", note=DROP)``), and use ``**{"_id": ...}``
for the underscore fields. For orders, when ``lines`` is overridden and ``total`` is not, the
total is recomputed (when the lines allow it), so
``sample("order", lines=[sample_order_line(qty=2)])`` stays valid.

The samples form one small consistent world: territory ``territory:north`` with rep ``alice``
and engineer ``bob``, account ``account:cafe-nord`` with contact, price list ``price_list:std``,
product ``SKU-1``, an order of alice, a service visit, note and work order of bob.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from mobile_schema.errors import UnknownTypeError
from mobile_schema.money import order_total
from mobile_schema.registry import CURRENT_SCHEMA_VERSION

SAMPLE_TIME: Final = "2024-05-01T08:30:00.000Z"
LATER_TIME: Final = "2024-05-01T09:15:00.000Z"


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Final = _Drop()


def sample_order_line(**overrides: Any) -> dict[str, Any]:
    """A valid v2 order line (3 x 12.50, 10 % discount = 33.75)."""
    line: dict[str, Any] = {
        "line_id": "l1",
        "sku": "SKU-1",
        "qty": 3,
        "unit_price": "12.50",
        "discount_pct": 10,
        "confirmed_qty": None,
        "deleted": False,
        "updated_at": SAMPLE_TIME,
    }
    return _apply(line, overrides)


def sample_checklist_item(**overrides: Any) -> dict[str, Any]:
    """A valid visit-note checklist item."""
    item: dict[str, Any] = {
        "item_id": "c1",
        "label": "Check pressure",
        "done": False,
        "updated_at": SAMPLE_TIME,
    }
    return _apply(item, overrides)


def sample_order_v1(**overrides: Any) -> dict[str, Any]:
    """A valid schema-1 order, as apps before 2.0 write it (float price, fractional discount)."""
    doc = _common("order", "o-legacy", 1)
    doc.update(
        rep_id="alice",
        account_id="account:cafe-nord",
        status="draft",
        currency="EUR",
        lines=[
            {
                "line_id": "l1",
                "sku": "SKU-1",
                "qty": 3,
                "price": 12.5,
                "discount": 0.1,
                "deleted": False,
            }
        ],
        note=None,
    )
    return _apply(doc, overrides)


def _common(doc_type: str, local_id: str, version: int | None = None) -> dict[str, Any]:
    return {
        "_id": f"{doc_type}:{local_id}",
        "type": doc_type,
        "schema_version": CURRENT_SCHEMA_VERSION[doc_type] if version is None else version,
        "updated_at": SAMPLE_TIME,
        "updated_by": "admin",
    }


def _bodies() -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "product": (
            "SKU-1",
            {
                "sku": "SKU-1",
                "name": "Espresso beans 1 kg",
                "unit": "kg",
                "category": "coffee",
                "active": True,
            },
        ),
        "price_list": (
            "std",
            {
                "name": "Standard",
                "currency": "EUR",
                "territory_ids": ["territory:north"],
                "items": [{"sku": "SKU-1", "unit_price": "12.50"}],
            },
        ),
        "account": (
            "cafe-nord",
            {
                "name": "Café Nord",
                "territory_id": "territory:north",
                "address": "Storgata 1, Oslo",
                "location": {"lat": 59.9139, "lon": 10.7522},
                "price_list_id": "price_list:std",
            },
        ),
        "contact": (
            "kari",
            {
                "account_id": "account:cafe-nord",
                "name": "Kari Nordmann",
                "phone": "+47 22 00 00 00",
                "email": "kari@example.com",
            },
        ),
        "territory": ("north", {"name": "North", "rep_ids": ["alice", "bob"]}),
        "order": (
            "o-1",
            {
                "rep_id": "alice",
                "account_id": "account:cafe-nord",
                "status": "draft",
                "currency": "EUR",
                "lines": [sample_order_line()],
                "note": "Deliver before noon",
                "submitted_at": None,
                "confirmed_at": None,
                "rejection_reason": None,
                "total": "33.75",
            },
        ),
        "visit": (
            "v-1",
            {
                "assignee_id": "bob",
                "account_id": "account:cafe-nord",
                "kind": "service",
                "status": "planned",
                "scheduled_start": "2024-05-02T07:00:00.000Z",
                "scheduled_end": "2024-05-02T08:00:00.000Z",
                "check_in": None,
                "check_out": None,
                "work_order_id": "work_order:wo-1",
            },
        ),
        "visit_note": (
            "vn-1",
            {
                "visit_id": "visit:v-1",
                "author_id": "bob",
                "text": "Replaced the gasket.",
                "checklist": [sample_checklist_item()],
            },
        ),
        "work_order": (
            "wo-1",
            {
                "account_id": "account:cafe-nord",
                "assignee_id": "bob",
                "priority": "high",
                "status": "assigned",
                "problem": "Espresso machine leaks.",
                "resolution": None,
                "sla_due": "2024-05-03T16:00:00.000Z",
            },
        ),
        "notification": (
            "n-1",
            {
                "user_id": "alice",
                "kind": "order_confirmed",
                "title": "Order o-1 confirmed",
                "body": "Café Nord: 3 items confirmed.",
                "data": {"order_id": "order:o-1"},
                "read": False,
                "created_at": SAMPLE_TIME,
            },
        ),
        "conflict_record": (
            "order:o-1:4-abc",
            {
                "doc_id": "order:o-1",
                "doc_type": "order",
                "leaves": ["3-aaa", "3-bbb"],
                "merged_rev": "4-abc",
                "strategy": "order_merge",
                "overridden": [{"what": "lines[l1].qty", "lost_value": 5, "by": "backoffice"}],
                "user_ids": ["alice"],
            },
        ),
    }


def sample(doc_type: str, /, **overrides: Any) -> dict[str, Any]:
    """A valid document of ``doc_type`` at its current schema version, with ``overrides``."""
    bodies = _bodies()
    if doc_type not in bodies:
        raise UnknownTypeError(
            f"no sample for {doc_type!r}; known types: {', '.join(sorted(bodies))}"
        )
    local_id, body = bodies[doc_type]
    doc = _common(doc_type, local_id)
    doc.update(body)
    if doc_type == "order" and "lines" in overrides and "total" not in overrides:
        lines = overrides["lines"]
        try:
            overrides = {**overrides, "total": order_total(lines)}
        except (AttributeError, TypeError, ValueError):
            pass  # lines a test made invalid on purpose: keep the sample's total
    return _apply(doc, overrides)


def _apply(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    # Deep copies, so a caller mutating its sample cannot change the next one it asks for.
    result = copy.deepcopy(doc)
    for key, value in overrides.items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = copy.deepcopy(value)
    return result
