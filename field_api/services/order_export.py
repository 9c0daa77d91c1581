"""The orders export: the inbox's matching orders up to a cursor, and their CSV rows.

:func:`iter_export` walks fs_orders' feed like the inbox (the same filter and view of an
order) from the cursor ``since`` up to ``until`` (:func:`.order_cursor.head_cursor` when the
export starts, sent back as the next export's ``since``). :func:`csv_rows` gives one row per
live line in ``CSV_COLUMNS`` order (one row with empty line columns for an order without
lines); amounts are the line's decimal string, to the cent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from mobile_schema import format_money, line_amount
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases

from .order_cursor import decode_cursor, read_changes
from .orders import BATCH, Doc, OrderFilter, Walk, public_order

CSV_COLUMNS: Final = (
    "order_id",
    "rev",
    "rep_id",
    "account_id",
    "status",
    "currency",
    "submitted_at",
    "confirmed_at",
    "line_id",
    "sku",
    "qty",
    "confirmed_qty",
    "unit_price",
    "discount_pct",
    "amount",
)


async def iter_export(
    couch: CouchClient, dbs: Databases, flt: OrderFilter, *, since: str | None, until: Any
) -> AsyncIterator[Doc]:
    """The matching orders from the cursor ``since`` up to the sequence ``until``.

    With numeric sequences (PouchDB Server, CouchDB 1) the walk stops exactly at ``until``;
    CouchDB 3's sequences do not compare, so there it runs to the end of the feed, and orders
    that changed during the export may appear again in the next one (dedupe by order id + rev).
    """
    position = decode_cursor(since)
    walk = Walk(couch, dbs, flt)
    while True:
        page = await read_changes(couch, dbs, position, BATCH)
        keep = await walk.keep(page.results)
        for row, wanted in zip(page.results, keep, strict=True):
            if isinstance(until, int) and isinstance(row["seq"], int) and row["seq"] > until:
                return
            if wanted:
                yield public_order(row["doc"])
        if len(page.results) < BATCH or page.last_seq == position:
            return
        position = page.last_seq


def csv_rows(order: Mapping[str, Any]) -> list[list[Any]]:
    """One row per live line (one row with empty line columns for an order without lines)."""
    head = [
        order.get("_id"),
        order.get("_rev"),
        order.get("rep_id"),
        order.get("account_id"),
        order.get("status"),
        order.get("currency"),
        order.get("submitted_at") or "",
        order.get("confirmed_at") or "",
    ]
    rows = []
    for ln in order.get("lines", []):
        if ln.get("deleted"):
            continue
        confirmed = ln.get("confirmed_qty")
        rows.append(
            [
                *head,
                ln.get("line_id"),
                ln.get("sku"),
                ln.get("qty"),
                "" if confirmed is None else confirmed,
                ln.get("unit_price", ln.get("price")),
                ln.get("discount_pct", 0),
                format_money(line_amount(ln)),
            ]
        )
    return rows or [[*head, "", "", "", "", "", "", ""]]
