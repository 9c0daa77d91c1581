"""The back office's view of ``fs_orders``: the inbox walk, and reading one order.

The walk yields *changes*, not orders: each item is the order's winning revision at the time
it is read, and an order appears again later in the walk whenever it changes again (a confirm,
a rep's edit). Within one walk on a single CouchDB node (and on PouchDB Server) no revision is
ever yielded twice and none is skipped. A CouchDB 3 cluster may replay a few changes after a
node fails (its feed is at-least-once), so an integration dedupes by ``(_id, _rev)``; see
docs/orders-inbox.md for the contract an ERP follows, and ``order_cursor.py`` for the cursor.

Filtering reads the feed in bounded batches (``include_docs``) and keeps what matches; at most
:data:`MAX_SCAN` changes are read per request, so a page may hold fewer than ``limit`` items
(even none) while ``more`` is true: keep following ``next``. ``territory_id`` is the *current*
territory of the order's account (accounts read with ``_all_docs?keys=``, once per batch).
Orders are shown at the current schema (:func:`public_order`).

Beside it: the lifecycle decisions (``order_lifecycle.py``) and the export
(``order_export.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from mobile_schema import SchemaError, upgrade_document
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases

from ..problems import BadInput, NotFound
from .order_cursor import decode_cursor, encode_cursor, not_behind, read_changes

Doc = dict[str, Any]

MAX_LIMIT: Final = 500
MAX_SCAN: Final = 5_000
BATCH: Final = 200
# What the inbox shows when no status is asked for: drafts are the rep's working copy.
DEFAULT_STATUSES: Final = frozenset(
    {"submitted", "confirmed", "shipped", "invoiced", "rejected", "cancelled"}
)
ALL_STATUSES: Final = DEFAULT_STATUSES | {"draft"}


@dataclass(frozen=True)
class OrderFilter:
    statuses: frozenset[str] = DEFAULT_STATUSES
    rep_id: str | None = None
    territory_id: str | None = None

    def matches_doc(self, doc: Mapping[str, Any]) -> bool:
        if doc.get("type") != "order" or doc.get("status") not in self.statuses:
            return False
        return self.rep_id is None or doc.get("rep_id") == self.rep_id


def parse_statuses(value: str | None) -> frozenset[str]:
    """``"submitted,confirmed"`` -> the set; None/empty -> every status but draft; ``all``."""
    if not value:
        return DEFAULT_STATUSES
    names = {part.strip() for part in value.split(",") if part.strip()}
    if names == {"all"}:
        return frozenset(ALL_STATUSES)
    unknown = names - ALL_STATUSES
    if unknown:
        raise BadInput(
            f"status {', '.join(sorted(unknown))} is unknown; use one or more of "
            f"{', '.join(sorted(ALL_STATUSES))} separated by commas, or all"
        )
    return frozenset(names)


def territory_ref(value: str | None) -> str | None:
    if value is None:
        return None
    return value if value.startswith("territory:") else f"territory:{value}"


@dataclass
class InboxPage:
    items: list[Doc]
    next: str
    more: bool
    scanned: int = 0


@dataclass
class Walk:
    """State of one pass over the feed: where it is and the accounts already looked up."""

    couch: CouchClient
    dbs: Databases
    flt: OrderFilter
    territories: dict[str, str | None] = field(default_factory=dict)

    async def keep(self, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        """For each change row, whether its order goes into the page."""
        docs = [_order_of(row) for row in rows]
        hits = [doc is not None and self.flt.matches_doc(doc) for doc in docs]
        if self.flt.territory_id is None:
            return hits
        wanted = {doc.get("account_id") for doc, hit in zip(docs, hits, strict=True) if hit and doc}
        missing = sorted(a for a in wanted if isinstance(a, str) and a not in self.territories)
        if missing:
            result = await self.couch.all_docs(self.dbs.master, keys=missing, include_docs=True)
            for row in result["rows"]:
                doc = row.get("doc") or {}
                self.territories[row["key"]] = doc.get("territory_id")
        return [
            hit
            and doc is not None
            and self.territories.get(doc["account_id"]) == self.flt.territory_id
            for doc, hit in zip(docs, hits, strict=True)
        ]


def _order_of(row: Mapping[str, Any]) -> Doc | None:
    if row.get("deleted") or not str(row.get("id", "")).startswith("order:"):
        return None
    doc = row.get("doc")
    return doc if isinstance(doc, dict) and not doc.get("_deleted") else None


async def read_inbox(
    couch: CouchClient,
    dbs: Databases,
    flt: OrderFilter,
    *,
    since: str | None,
    limit: int,
    max_scan: int = MAX_SCAN,
) -> InboxPage:
    """One page of the inbox walk from the cursor ``since`` (see the module docstring)."""
    limit = max(1, min(limit, MAX_LIMIT))
    position = decode_cursor(since)
    walk = Walk(couch, dbs, flt)
    items: list[Doc] = []
    scanned = 0
    while scanned < max_scan:
        batch = min(BATCH, max_scan - scanned)
        page = await read_changes(couch, dbs, position, batch)
        keep = await walk.keep(page.results)
        for row, wanted in zip(page.results, keep, strict=True):
            scanned += 1
            # every row's own seq is a valid `since`: stopping mid-page loses nothing
            position = row["seq"]
            if wanted:
                items.append(public_order(row["doc"]))
                if len(items) >= limit:
                    return InboxPage(items, encode_cursor(position), True, scanned)
        if len(page.results) < batch:
            # the end of the feed: its last_seq also covers design documents and the like
            position = not_behind(position, page.last_seq)
            return InboxPage(items, encode_cursor(position), False, scanned)
    return InboxPage(items, encode_cursor(position), True, scanned)


def public_order(doc: Mapping[str, Any]) -> Doc:
    """The order as the API shows it: at the current schema (v1 orders of old apps upgraded,
    same ``_rev``), without CouchDB's bookkeeping lists."""
    body = dict(doc)
    if doc.get("schema_version") == 1:
        try:
            body = upgrade_document(doc)
        except SchemaError:
            pass  # shown as stored: the device's old body is all there is
    return {k: v for k, v in body.items() if k not in ("_revisions", "_conflicts")}


async def get_order(couch: CouchClient, dbs: Databases, order_id: str) -> Doc:
    doc = await couch.get_or_none(dbs.orders, order_ref(order_id), conflicts=True)
    if doc is None or doc.get("type") != "order":
        raise NotFound(f"there is no order {order_id!r}")
    return doc


def order_ref(value: str) -> str:
    """``"o-1"`` or ``"order:o-1"`` -> ``"order:o-1"``."""
    doc_id = value if value.startswith("order:") else f"order:{value}"
    if len(doc_id) > 200 or not doc_id[len("order:") :]:
        raise BadInput("an order id is order:<id> or just <id>, at most 200 characters")
    return doc_id
