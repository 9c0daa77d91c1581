"""Sales and visit-coverage reports, read from map/reduce views (not scans per request).

Sales (``GET /api/v1/reports/sales?group_by=territory|rep|product|day&from=&to=``)

- Which orders count: status ``confirmed``, ``shipped`` or ``invoiced`` — the back office has
  accepted them, so the amount is what the company will deliver and bill. Drafts and submitted
  orders are not sales yet; rejected and cancelled ones never will be.
- Which day: ``confirmed_at`` (or ``submitted_at`` when an order has none), as a UTC day; an
  order counts when that day is in ``[from, to)`` (``from`` inclusive, ``to`` exclusive).
- Amounts are per currency (never added across currencies) and rendered as decimal strings
  with two fraction digits (``mobile_schema.money``), never floats.
- territory / rep / day: the order's own ``total`` (confirmed quantities and discounts already
  applied, rounded to cents per order). The view emits it as integer cents with the order count,
  ``[cents, 1]``, and ``_sum`` adds those exactly (integers below 2**53 in JavaScript, unbounded
  in CouchDB's Erlang). ``territory`` is the account's *current* territory (accounts read from
  fs_master), ``null`` for accounts in none or unknown.
- product: per SKU, the sum of its lines' amounts (``line_amount``: confirmed or ordered
  quantity * unit price * (1 - discount)), summed unrounded in Decimal and rounded once per
  row; ``quantity`` is the effective quantity sold. This reads one view row per order line in
  the range (an index range, not the database), because exact decimal products cannot be
  summed by a JavaScript reduce. The per-product sum may differ by a cent from the sum of
  order totals, which are rounded per order.
- Only version-2 orders count (they carry a ``total``); the back office's decisions write v2.

Visits (``GET /api/v1/reports/visits?from=&to=``): per assignee, the visits scheduled
(``scheduled_start``, UTC day) in ``[from, to)``: ``planned`` (all but cancelled), ``done``,
``in_progress``, ``open`` (still ``planned``), ``cancelled`` and ``coverage_pct`` = done / planned.

Views: ``_design/fs_reports`` in fs_orders (``sales_by_rep``, ``sales_by_account`` keyed
``[day, currency, group]`` with ``_sum``; ``sales_lines`` keyed ``[day, currency, sku]``) and
in fs_field (``visits_by_day`` keyed ``[day, assignee_id, status]`` with ``_count``). Queries
use ``group_level`` over the day range, so a report reads one row per (day, group, currency).
They are created once per process on first use and then kept up to date by CouchDB; not at
start-up, because tools and tests expect fs_orders / fs_field to hold only documents until
something asks for a report (the router never copies ``_design/`` documents to devices).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from mobile_schema import format_money, line_amount, to_decimal
from sync_gateway.couch import CouchClient, ensure_design
from sync_gateway.couch.client import chunked
from sync_gateway.databases import Databases

from ..problems import BadInput
from .documents import read_docs

GroupBy = Literal["territory", "rep", "product", "day"]
Doc = dict[str, Any]

DESIGN_ID: Final = "_design/fs_reports"
SALES_STATUSES: Final = ("confirmed", "shipped", "invoiced")
MAX_DAYS: Final = 366
DEFAULT_DAYS: Final = 30

_ORDER_HEAD = (
    "function (doc) {"
    " if (doc.type !== 'order' || ['confirmed', 'shipped', 'invoiced'].indexOf(doc.status) < 0)"
    " return;"
    " var at = doc.confirmed_at || doc.submitted_at;"
    " if (typeof at !== 'string' || typeof doc.currency !== 'string') return;"
    " var day = at.slice(0, 10);"
)
_CENTS = (
    " if (typeof doc.total !== 'string') return;"
    " var m = /^(-?)(\\d{1,12})\\.(\\d\\d)$/.exec(doc.total);"
    " if (!m) return;"
    " var cents = (parseInt(m[2], 10) * 100 + parseInt(m[3], 10)) * (m[1] ? -1 : 1);"
)
ORDERS_VIEWS: Final[dict[str, dict[str, str]]] = {
    "sales_by_rep": {
        "map": _ORDER_HEAD + _CENTS + " emit([day, doc.currency, doc.rep_id], [cents, 1]); }",
        "reduce": "_sum",
    },
    "sales_by_account": {
        "map": _ORDER_HEAD + _CENTS + " emit([day, doc.currency, doc.account_id], [cents, 1]); }",
        "reduce": "_sum",
    },
    "sales_lines": {
        "map": _ORDER_HEAD + " if (typeof doc.total !== 'string' || !doc.lines) return;"
        " for (var i = 0; i < doc.lines.length; i++) { var l = doc.lines[i];"
        " if (!l || l.deleted) continue;"
        " emit([day, doc.currency, l.sku], {qty: l.qty, confirmed_qty: l.confirmed_qty,"
        " unit_price: l.unit_price, discount_pct: l.discount_pct}); } }",
    },
}
FIELD_VIEWS: Final[dict[str, dict[str, str]]] = {
    "visits_by_day": {
        "map": "function (doc) { if (doc.type === 'visit' && typeof doc.assignee_id === "
        "'string' && typeof doc.scheduled_start === 'string') "
        "{ emit([doc.scheduled_start.slice(0, 10), doc.assignee_id, doc.status], null); } }",
        "reduce": "_count",
    }
}


async def ensure_views(couch: CouchClient, dbs: Databases, ready: set[str]) -> None:
    """Create or update the design documents, once per process (``ready``: those installed)."""
    if DESIGN_ID in ready:
        return
    await ensure_design(couch, dbs.orders, DESIGN_ID, ORDERS_VIEWS)
    await ensure_design(couch, dbs.field, DESIGN_ID, FIELD_VIEWS)
    ready.add(DESIGN_ID)


# -- the date range ------------------------------------------------------------------------


def day_range(start: str | None, end: str | None, *, today: date | None = None) -> tuple[str, str]:
    """``[from, to)`` as ISO days; default the last 30 days including today (UTC)."""

    def parse(name: str, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadInput(f"{name}: {value!r} is not a day like 2024-05-01") from None

    today = today or datetime.now(UTC).date()
    to_day = parse("to", end) if end else today + timedelta(days=1)
    from_day = parse("from", start) if start else to_day - timedelta(days=DEFAULT_DAYS)
    if from_day >= to_day:
        raise BadInput(f"from ({from_day}) must be before to ({to_day}); to is exclusive")
    if (to_day - from_day).days > MAX_DAYS:
        raise BadInput(f"the range spans more than {MAX_DAYS} days; ask for a shorter one")
    return from_day.isoformat(), to_day.isoformat()


def _range(start: str, end: str) -> dict[str, Any]:
    return {"startkey": [start], "endkey": [end], "inclusive_end": False}


# -- sales ---------------------------------------------------------------------------------


def _money(cents: int) -> str:
    return format_money(Decimal(cents) / 100)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


async def _territories(couch: CouchClient, dbs: Databases, account_ids: Sequence[str]) -> Doc:
    found: Doc = {}
    for batch in chunked(sorted(set(account_ids)), 1_000):
        for doc_id, doc in (await read_docs(couch, dbs.master, batch)).items():
            territory = doc.get("territory_id") if doc else None
            found[doc_id] = territory if isinstance(territory, str) else None
    return found


async def _sales_totals(
    couch: CouchClient, dbs: Databases, group_by: GroupBy, start: str, end: str
) -> dict[tuple[Any, str], dict[str, Any]]:
    view = "sales_by_account" if group_by == "territory" else "sales_by_rep"
    level = 2 if group_by == "day" else 3
    rows = await couch.view(dbs.orders, DESIGN_ID, view, group_level=level, **_range(start, end))
    if group_by == "territory":
        territory_of = await _territories(couch, dbs, [r["key"][2] for r in rows])
    groups: dict[tuple[Any, str], dict[str, Any]] = defaultdict(lambda: {"cents": 0, "orders": 0})
    for row in rows:
        day, currency = row["key"][0], row["key"][1]
        if group_by == "day":
            group = day
        elif group_by == "territory":
            group = territory_of.get(row["key"][2])
        else:
            group = row["key"][2]
        cents, count = row["value"]
        entry = groups[(group, currency)]
        entry["cents"] += int(cents)
        entry["orders"] += int(count)
    return groups


async def _sales_by_product(
    couch: CouchClient, dbs: Databases, start: str, end: str
) -> dict[tuple[Any, str], dict[str, Any]]:
    rows = await couch.view(
        dbs.orders, DESIGN_ID, "sales_lines", reduce=False, **_range(start, end)
    )
    groups: dict[tuple[Any, str], dict[str, Any]] = defaultdict(
        lambda: {"amount": Decimal(0), "quantity": Decimal(0), "lines": 0}
    )
    for row in rows:
        _, currency, sku = row["key"]
        line: Mapping[str, Any] = row["value"]
        qty = line.get("confirmed_qty")
        entry = groups[(sku, currency)]
        entry["amount"] += line_amount(line)
        entry["quantity"] += to_decimal(qty if qty is not None else line.get("qty", 0))
        entry["lines"] += 1
    return groups


async def sales_report(
    couch: CouchClient,
    dbs: Databases,
    ready: set[str],
    *,
    group_by: GroupBy,
    start: str | None = None,
    end: str | None = None,
) -> Doc:
    """The sales report; the shape is in the route's model, the rules in the module docstring."""
    start, end = day_range(start, end)
    await ensure_views(couch, dbs, ready)
    rows: list[Doc] = []
    totals: dict[str, Doc] = {}
    if group_by == "product":
        for (sku, currency), e in (await _sales_by_product(couch, dbs, start, end)).items():
            rows.append(
                {
                    "group": sku,
                    "currency": currency,
                    "amount": format_money(e["amount"]),
                    "orders": None,
                    "lines": e["lines"],
                    "quantity": _number(e["quantity"]),
                }
            )
            total = totals.setdefault(currency, {"amount": Decimal(0), "orders": None})
            total["amount"] += e["amount"]
    else:
        for (group, currency), e in (await _sales_totals(couch, dbs, group_by, start, end)).items():
            rows.append(
                {
                    "group": group,
                    "currency": currency,
                    "amount": _money(e["cents"]),
                    "orders": e["orders"],
                    "lines": None,
                    "quantity": None,
                }
            )
            total = totals.setdefault(currency, {"amount": Decimal(0), "orders": 0})
            total["amount"] += Decimal(e["cents"]) / 100
            total["orders"] += e["orders"]
    rows.sort(key=lambda r: (r["group"] is None, str(r["group"] or ""), r["currency"]))
    return {
        "group_by": group_by,
        "from": start,
        "to": end,
        "statuses": list(SALES_STATUSES),
        "rows": rows,
        "totals": [
            {"currency": c, "amount": format_money(t["amount"]), "orders": t["orders"]}
            for c, t in sorted(totals.items())
        ],
    }


# -- visits --------------------------------------------------------------------------------


def _coverage(done: int, planned: int) -> float | None:
    return round(done * 100 / planned, 1) if planned else None


async def visits_report(
    couch: CouchClient,
    dbs: Databases,
    ready: set[str],
    *,
    start: str | None = None,
    end: str | None = None,
) -> Doc:
    """Coverage per assignee: visits planned vs done in ``[from, to)``."""
    start, end = day_range(start, end)
    await ensure_views(couch, dbs, ready)
    rows = await couch.view(
        dbs.field, DESIGN_ID, "visits_by_day", group_level=3, **_range(start, end)
    )
    statuses = ("planned", "in_progress", "done", "cancelled")
    people: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(statuses, 0))
    for row in rows:
        _, assignee, status = row["key"]
        if status in statuses:
            people[assignee][status] += int(row["value"])

    def entry(counts: Mapping[str, int]) -> Doc:
        planned = counts["planned"] + counts["in_progress"] + counts["done"]
        return {
            "planned": planned,
            "done": counts["done"],
            "in_progress": counts["in_progress"],
            "open": counts["planned"],
            "cancelled": counts["cancelled"],
            "coverage_pct": _coverage(counts["done"], planned),
        }

    overall = dict.fromkeys(statuses, 0)
    for counts in people.values():
        for status in statuses:
            overall[status] += counts[status]
    return {
        "from": start,
        "to": end,
        "rows": [{"assignee_id": a, **entry(people[a])} for a in sorted(people)],
        "totals": entry(overall),
    }
