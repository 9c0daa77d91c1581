"""The back office's view of ``fs_orders``: the inbox walk, the lifecycle decisions, the export.

Inbox cursor
    ``next`` is ``"c1." + base64url(JSON of a CouchDB change sequence of fs_orders)``: opaque to
    callers, stable across restarts (it names a position in the database's own change feed,
    nothing in this process). Passing it back as ``since`` continues the walk right after the
    last change the previous page consumed.

The walk yields *changes*, not orders: each item is the order's winning revision at the time
it is read, and an order appears again later in the walk whenever it changes again (a confirm,
a rep's edit). Within one walk on a single CouchDB node (and on PouchDB Server) no revision is
ever yielded twice and none is skipped. A CouchDB 3 cluster may replay a few changes after a
node fails (its feed is at-least-once), so an integration dedupes by ``(_id, _rev)``; see
docs/orders-inbox.md for the contract an ERP follows.

Filtering reads the feed in bounded batches (``include_docs``) and keeps what matches; at most
:data:`MAX_SCAN` changes are read per request, so a page may hold fewer than ``limit`` items
(even none) while ``more`` is true: keep following ``next``. ``territory_id`` is the *current*
territory of the order's account (accounts read with ``_all_docs?keys=``, once per batch).

Lifecycle (``decide``, pure)::

    submitted --confirm--> confirmed --ship--> shipped --invoice--> invoiced
    submitted, confirmed --reject--> rejected        (rejected and cancelled are final)

A decision on an order already in the target state with the same content (same confirmed
quantities, same reason) is a no-op that returns the current revision: retries are safe. Any
other move is :class:`Conflicting` (409) with the reason. The new body is a child of the current
winning revision; a concurrent write (CouchDB 409) is re-read and re-decided a few times. An
order the rep edits offline meanwhile becomes a conflict that the resolver merges (back-office
fields win), so the decision is never refused for that.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from mobile_schema import (
    SchemaError,
    format_money,
    line_amount,
    order_total,
    upgrade_document,
    utc_now,
    validate_document,
)
from sync_gateway.couch import CouchBadRequest, CouchClient, CouchConflict, CouchNotFound
from sync_gateway.couch.client import ChangesPage
from sync_gateway.databases import Databases

from ..problems import BadInput, Conflicting, NotFound

Doc = dict[str, Any]
Action = Literal["confirm", "reject", "ship", "invoice"]

CURSOR_PREFIX: Final = "c1."
MAX_LIMIT: Final = 500
MAX_SCAN: Final = 5_000
BATCH: Final = 200
WRITE_ATTEMPTS: Final = 5
# What the inbox shows when no status is asked for: drafts are the rep's working copy.
DEFAULT_STATUSES: Final = frozenset(
    {"submitted", "confirmed", "shipped", "invoiced", "rejected", "cancelled"}
)
ALL_STATUSES: Final = DEFAULT_STATUSES | {"draft"}


# -- cursor ----------------------------------------------------------------------------------


def encode_cursor(seq: Any) -> str:
    return CURSOR_PREFIX + base64.urlsafe_b64encode(orjson.dumps(seq)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """The change sequence inside ``cursor``; 0 (the beginning) for None or empty."""
    if not cursor:
        return 0
    if not cursor.startswith(CURSOR_PREFIX):
        raise BadInput("since must be a `next` cursor returned by this inbox (or empty)")
    body = cursor[len(CURSOR_PREFIX) :]
    try:
        seq = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise BadInput("since is not a cursor this inbox issued; start again without it") from exc
    if (
        isinstance(seq, bool)
        or not isinstance(seq, int | str)
        or (isinstance(seq, int) and seq < 0)
    ):
        raise BadInput("since is not a cursor this inbox issued; start again without it")
    return seq


# -- inbox -----------------------------------------------------------------------------------


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
class _Walk:
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
    walk = _Walk(couch, dbs, flt)
    items: list[Doc] = []
    scanned = 0
    while scanned < max_scan:
        batch = min(BATCH, max_scan - scanned)
        page = await _changes(couch, dbs, position, batch)
        keep = await walk.keep(page.results)
        for row, wanted in zip(page.results, keep, strict=True):
            scanned += 1
            # every row's own seq is a valid `since`: stopping mid-page loses nothing
            position = row["seq"]
            if wanted:
                items.append(_public(row["doc"]))
                if len(items) >= limit:
                    return InboxPage(items, encode_cursor(position), True, scanned)
        if len(page.results) < batch:
            # the end of the feed: its last_seq also covers design documents and the like
            position = _not_behind(position, page.last_seq)
            return InboxPage(items, encode_cursor(position), False, scanned)
    return InboxPage(items, encode_cursor(position), True, scanned)


async def _changes(couch: CouchClient, dbs: Databases, since: Any, limit: int) -> ChangesPage:
    try:
        return await couch.changes(dbs.orders, since=since, limit=limit, include_docs=True)
    except CouchBadRequest as exc:  # CouchDB 3 refuses a sequence it never issued
        raise BadInput("since is not a cursor this inbox issued; start again without it") from exc


async def check_cursor(couch: CouchClient, dbs: Databases, cursor: str | None) -> None:
    """BadInput now, before a stream starts, when the cursor is not one CouchDB accepts."""
    await _changes(couch, dbs, decode_cursor(cursor), 1)


def _not_behind(position: Any, last_seq: Any) -> Any:
    # An empty page's last_seq is where the feed ends, at or after ``position``; with numeric
    # sequences keep the larger, so a server answering oddly can never move a cursor back.
    if isinstance(position, int) and isinstance(last_seq, int):
        return max(position, last_seq)
    return last_seq if last_seq is not None else position


def _public(doc: Mapping[str, Any]) -> Doc:
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


# -- lifecycle -------------------------------------------------------------------------------


class Transition(Exception):
    """An illegal move; ``reason`` says why and what to do instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _final_or_past(status: str, action: str) -> Transition:
    if status == "draft":
        return Transition(
            f"the order is still a draft: the rep has not submitted it; cannot {action}"
        )
    if status in ("rejected", "cancelled"):
        return Transition(f"the order is {status}, which is final; cannot {action}")
    return Transition(f"the order is {status}; cannot {action} it from there")


def decide(
    order: Mapping[str, Any],
    action: Action,
    *,
    user_id: str,
    now: str,
    lines: Sequence[Mapping[str, Any]] | None = None,
    reason: str | None = None,
) -> Doc | None:
    """The new body of ``order`` after ``action``, or None when it is already so (no-op).

    Raises :class:`Transition` for an illegal move and ``ValueError`` for a bad ``lines``
    argument (unknown or deleted line, duplicate line id).
    """
    status = str(order.get("status"))
    new = {k: v for k, v in order.items() if k not in ("_conflicts", "_revisions")}
    if action == "confirm":
        wanted = _confirmed_quantities(order, lines or ())
        if status == "confirmed":
            current = {ln["line_id"]: ln.get("confirmed_qty") for ln in order.get("lines", [])}
            differ = sorted(lid for lid, qty in wanted.items() if current.get(lid) != qty)
            if lines and differ:
                raise Transition(
                    f"the order is already confirmed with other quantities for line "
                    f"{', '.join(differ)}; confirmed quantities cannot change after confirming"
                )
            return None
        if status != "submitted":
            raise _final_or_past(status, "confirm")
        new["lines"] = [
            {**ln, "confirmed_qty": wanted.get(ln["line_id"], ln.get("confirmed_qty"))}
            for ln in order.get("lines", [])
        ]
        new["status"] = "confirmed"
        new["confirmed_at"] = now
    elif action == "reject":
        if not reason or not reason.strip():
            raise ValueError("reason: say why the order is rejected; the rep will read it")
        if status == "rejected":
            if order.get("rejection_reason") == reason:
                return None
            raise Transition("the order is already rejected with another reason")
        if status not in ("submitted", "confirmed"):
            raise _final_or_past(status, "reject")
        new["status"] = "rejected"
        new["rejection_reason"] = reason
    elif action in ("ship", "invoice"):
        source, target = ("confirmed", "shipped") if action == "ship" else ("shipped", "invoiced")
        if status == target:
            return None
        if status != source:
            if status == "submitted" and action == "ship":
                raise Transition("the order is submitted, not confirmed yet: confirm it first")
            raise _final_or_past(status, action)
        new["status"] = target
    else:  # pragma: no cover - the route's Literal stops it
        raise ValueError(f"unknown action {action!r}")
    new["total"] = order_total(new.get("lines", []))
    new["updated_at"] = now
    new["updated_by"] = user_id
    return new


def _confirmed_quantities(
    order: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """line id -> confirmed quantity: the given ones, and ``qty`` for the other live lines."""
    live = {ln["line_id"]: ln for ln in order.get("lines", []) if not ln.get("deleted")}
    every = {ln["line_id"] for ln in order.get("lines", [])}
    given: dict[str, Any] = {}
    for index, item in enumerate(lines):
        line_id = item["line_id"]
        if line_id in given:
            raise ValueError(f"lines[{index}].line_id: {line_id!r} is given twice")
        if line_id not in live:
            what = "was deleted by the rep" if line_id in every else "is not a line of this order"
            raise ValueError(f"lines[{index}].line_id: {line_id!r} {what}")
        given[line_id] = item["confirmed_qty"]
    wanted = {
        lid: ln["confirmed_qty"] if ln.get("confirmed_qty") is not None else ln["qty"]
        for lid, ln in live.items()
    }
    wanted.update(given)
    return wanted


async def apply_decision(
    couch: CouchClient,
    dbs: Databases,
    order_id: str,
    action: Action,
    *,
    user_id: str,
    lines: Sequence[Mapping[str, Any]] | None = None,
    reason: str | None = None,
) -> tuple[Doc, bool]:
    """Decide and write; (the order as it now is, True when a new revision was written)."""
    doc_id = order_ref(order_id)
    for _ in range(WRITE_ATTEMPTS):
        try:
            current = await couch.get(dbs.orders, doc_id)
        except CouchNotFound as exc:
            raise NotFound(f"there is no order {order_id!r}") from exc
        if current.get("type") != "order":
            raise NotFound(f"there is no order {order_id!r}")
        try:
            body = upgrade_document(current) if current.get("schema_version") == 1 else current
            new = decide(body, action, user_id=user_id, now=utc_now(), lines=lines, reason=reason)
        except Transition as exc:
            raise Conflicting(exc.reason, status_now=current.get("status")) from exc
        except SchemaError as exc:
            raise Conflicting(f"the stored order is not valid, fix it first: {exc}") from exc
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
        if new is None:
            return _public(current), False
        new["_rev"] = current["_rev"]
        try:
            validate_document(new)
        except SchemaError as exc:
            raise Conflicting(f"the stored order cannot be {action}ed as it is: {exc}") from exc
        try:
            result = await couch.put(dbs.orders, new)
        except CouchConflict:
            continue  # someone wrote it meanwhile: read the new winner and decide again
        new["_rev"] = result["rev"]
        return new, True
    raise Conflicting(
        f"the order changed {WRITE_ATTEMPTS} times while deciding; try again in a moment"
    )


# -- export ----------------------------------------------------------------------------------

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


async def head_cursor(couch: CouchClient, dbs: Databases) -> Any:
    """The sequence at the end of fs_orders' feed now."""
    page = await couch.changes(dbs.orders, since="now")
    return page.last_seq


async def iter_export(
    couch: CouchClient, dbs: Databases, flt: OrderFilter, *, since: str | None, until: Any
) -> AsyncIterator[Doc]:
    """The matching orders from the cursor ``since`` up to the sequence ``until``.

    With numeric sequences (PouchDB Server, CouchDB 1) the walk stops exactly at ``until``;
    CouchDB 3's sequences do not compare, so there it runs to the end of the feed, and orders
    that changed during the export may appear again in the next one (dedupe by order id + rev).
    """
    position = decode_cursor(since)
    walk = _Walk(couch, dbs, flt)
    while True:
        page = await _changes(couch, dbs, position, BATCH)
        keep = await walk.keep(page.results)
        for row, wanted in zip(page.results, keep, strict=True):
            if isinstance(until, int) and isinstance(row["seq"], int) and row["seq"] > until:
                return
            if wanted:
                yield _public(row["doc"])
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
