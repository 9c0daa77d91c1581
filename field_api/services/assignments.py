"""Visits and work orders in fs_field, created and (re)assigned by managers.

A manager's request carries the fields of mobile_schema's ``visit`` / ``work_order`` without the
bookkeeping; :func:`create` fills ``_id`` (``visit:<uuid4 hex>`` unless an id is given, with or
without its ``<type>:`` prefix), ``type``, ``schema_version``, ``updated_at``, ``updated_by``,
validates the document, checks that the assignee is an active rep or engineer and that the
account exists in fs_master, and writes it (409 if the id is taken). The router then copies it to
the assignee's database; :func:`reassign` changes ``assignee_id`` and the router moves it (the
old assignee's copy is deleted there only). A work order given an assignee while ``open``
becomes ``assigned``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from mobile_schema import CURRENT_SCHEMA_VERSION
from sync_gateway.couch import CouchClient, CouchConflict
from sync_gateway.databases import Databases

from ..problems import BadInput, Conflicting, NotFound
from .documents import Doc, checked, full_id, read_doc, scan, stamp, update_docs
from .masterdata import require_field_users

FieldType = Literal["visit", "work_order"]
PATHS: dict[str, str] = {"visit": "visits", "work_order": "work-orders"}


async def require_account(couch: CouchClient, dbs: Databases, account_id: str) -> str:
    doc_id = full_id("account", account_id)
    if await read_doc(couch, dbs.master, doc_id) is None:
        raise BadInput(
            f"account_id: there is no account {doc_id}; create it with PUT /api/v1/accounts",
            unknown_account_ids=[doc_id],
        )
    return doc_id


async def create(
    couch: CouchClient,
    dbs: Databases,
    doc_type: FieldType,
    fields: Mapping[str, Any],
    user_id: str,
) -> Doc:
    """Write a new visit or work order; return the stored document."""
    body = {k: v for k, v in fields.items() if v is not None and k != "id"}
    given = fields.get("id")
    doc_id = full_id(doc_type, given) if given else f"{doc_type}:{uuid.uuid4().hex}"
    body["account_id"] = full_id("account", body["account_id"])
    if doc_type == "work_order" and "status" not in body:
        body["status"] = "assigned" if body.get("assignee_id") else "open"
    doc = checked(
        stamp(
            {
                "_id": doc_id,
                "type": doc_type,
                "schema_version": CURRENT_SCHEMA_VERSION[doc_type],
                **body,
            },
            user_id,
        )
    )
    if body.get("assignee_id"):
        await require_field_users(couch, dbs, [body["assignee_id"]])
    await require_account(couch, dbs, body["account_id"])
    if (
        body.get("work_order_id")
        and await read_doc(couch, dbs.field, body["work_order_id"]) is None
    ):
        raise BadInput(f"work_order_id: there is no work order {body['work_order_id']}")
    if await read_doc(couch, dbs.field, doc_id) is not None:
        raise Conflicting(f"{doc_id} already exists; leave out id to get a new one")
    try:
        result = await couch.put(dbs.field, doc)
    except CouchConflict as exc:
        raise Conflicting(f"{doc_id} already exists") from exc
    return {**doc, "_rev": result["rev"]}


async def get(couch: CouchClient, dbs: Databases, doc_type: FieldType, item_id: str) -> Doc:
    doc_id = full_id(doc_type, item_id)
    doc = await read_doc(couch, dbs.field, doc_id)
    if doc is None:
        raise NotFound(f"there is no {doc_type.replace('_', ' ')} {doc_id}")
    return doc


async def reassign(
    couch: CouchClient,
    dbs: Databases,
    doc_type: FieldType,
    item_id: str,
    assignee_id: str,
    user_id: str,
) -> Doc:
    """Give the visit or work order to another field user; return the stored document."""
    doc_id = (await get(couch, dbs, doc_type, item_id))["_id"]
    await require_field_users(couch, dbs, [assignee_id])

    def change(_: str, current: Doc | None) -> Doc | None:
        if current is None:
            raise BadInput(f"{doc_id} was deleted meanwhile")
        if current.get("assignee_id") == assignee_id:
            return None
        new = {**current, "assignee_id": assignee_id}
        if doc_type == "work_order" and new.get("status") == "open":
            new["status"] = "assigned"
        return checked(stamp(new, user_id))

    row = (await update_docs(couch, dbs.field, [doc_id], change))[doc_id]
    if "error" in row:
        raise Conflicting(row["reason"]) if row["error"] == "conflict" else BadInput(row["reason"])
    return await get(couch, dbs, doc_type, doc_id)


async def list_items(
    couch: CouchClient, dbs: Databases, doc_type: FieldType, assignee_id: str | None
) -> list[Doc]:
    """Every visit or work order, or those assigned to one user, ordered by id."""
    return [
        doc
        async for doc in scan(couch, dbs.field, doc_type)
        if assignee_id is None or doc.get("assignee_id") == assignee_id
    ]
