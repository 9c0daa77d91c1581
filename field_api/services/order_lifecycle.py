"""The order lifecycle: what the back office may decide, and writing the decision.

    submitted --confirm--> confirmed --ship--> shipped --invoice--> invoiced
    submitted, confirmed --reject--> rejected        (rejected and cancelled are final)

:func:`decide` is pure: the new body, None for a no-op, :class:`Transition` for an illegal
move. A decision on an order already in the target state with the same content (same confirmed
quantities, same reason) is a no-op that returns the current revision: retries are safe. Any
other move is :class:`~field_api.problems.Conflicting` (409) with the reason. The new body
(:func:`apply_decision`) is a child of the current winning revision; a concurrent write
(CouchDB 409) is re-read and re-decided up to ``WRITE_ATTEMPTS`` times. An order the rep edits
offline meanwhile becomes a conflict that the resolver merges (back-office fields win), so the
decision is never refused for that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from mobile_schema import (
    SchemaError,
    order_total,
    upgrade_document,
    utc_now,
    validate_document,
)
from sync_gateway.couch import CouchClient, CouchConflictExhausted, update_with_retry
from sync_gateway.databases import Databases

from ..problems import BadInput, Conflicting, NotFound
from .orders import Doc, order_ref, public_order

Action = Literal["confirm", "reject", "ship", "invoice"]

WRITE_ATTEMPTS: Final = 5


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

    def change(current: Doc | None) -> Doc | None:
        """The decided order on top of ``current`` (None: nothing to write); raises to refuse."""
        if current is None or current.get("type") != "order":
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
            return None
        new["_rev"] = current["_rev"]
        try:
            validate_document(new)
        except SchemaError as exc:
            raise Conflicting(f"the stored order cannot be {action}ed as it is: {exc}") from exc
        return new

    try:
        # someone writing the order meanwhile: read the new winner and decide again
        updated = await update_with_retry(
            couch, dbs.orders, doc_id, change, attempts=WRITE_ATTEMPTS
        )
    except CouchConflictExhausted as exc:
        raise Conflicting(
            f"the order changed {WRITE_ATTEMPTS} times while deciding; try again in a moment"
        ) from exc
    assert updated.doc is not None  # change() refuses a missing order
    if not updated.written:
        return public_order(updated.doc), False
    return updated.doc, True
