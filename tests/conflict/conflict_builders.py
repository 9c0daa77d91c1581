"""Helpers to build leaf revisions for the conflict tests (imported by the test modules)."""

from __future__ import annotations

from typing import Any

from conflict import Leaf


def leaf(
    rev: str,
    body: dict[str, Any] | None = None,
    *,
    parents: tuple[str, ...] = (),
    deleted: bool = False,
    doc_id: str = "order:o1",
) -> Leaf:
    """A leaf ``rev`` whose ``_revisions`` lists ``parents`` (newest first) below it."""
    gen, digest = rev.split("-", 1)
    ids = [digest] + [p.split("-", 1)[1] for p in parents]
    doc: dict[str, Any] = {
        "_id": doc_id,
        "_rev": rev,
        "_revisions": {"start": int(gen), "ids": ids},
        **(body or {}),
    }
    if deleted:
        doc["_deleted"] = True
    return Leaf(rev, doc, deleted)


def line(line_id: str, updated_at: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "line_id": line_id,
        "sku": "SKU-" + line_id,
        "qty": 1,
        "unit_price": "10.00",
        "discount_pct": 0,
        "confirmed_qty": None,
        "deleted": False,
        "updated_at": updated_at,
    }
    base.update(fields)
    return base


def order(updated_at: str, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "order",
        "schema_version": 1,
        "rep_id": "rep1",
        "account_id": "account:a1",
        "status": "draft",
        "currency": "EUR",
        "note": "",
        "submitted_at": None,
        "confirmed_at": None,
        "rejection_reason": None,
        "total": "0.00",
        "lines": lines,
        "updated_at": updated_at,
        "updated_by": "rep1",
    }
    body.update(fields)
    return body


def note(updated_at: str, text: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "visit_note",
        "schema_version": 1,
        "visit_id": "visit:v1",
        "author_id": "eng1",
        "text": text,
        "checklist": [],
        "updated_at": updated_at,
        "updated_by": "eng1",
    }
    body.update(fields)
    return body


def stub(digest: str, length: int = 10) -> dict[str, Any]:
    return {
        "content_type": "image/jpeg",
        "digest": digest,
        "length": length,
        "revpos": 1,
        "stub": True,
    }


T0 = "2024-05-01T09:00:00.000Z"
T1 = "2024-05-01T10:00:00.000Z"
T2 = "2024-05-01T11:00:00.000Z"
T3 = "2024-05-01T12:00:00.000Z"
