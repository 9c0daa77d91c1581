"""Conflict records: what the resolver merged and what lost (manager, back office, admin).

GET /api/v1/conflicts?user_id=&doc_type=&since=&limit=&cursor=

    {"records": [<conflict_record>, ...], "next_cursor": "<opaque>" | null}

Newest first (by the record's ``updated_at``, the time of the resolution). ``user_id``: records
that name that user among those whose change was overridden; ``doc_type``: records of that
document type; ``since``: resolved at or after that UTC timestamp. A full page carries
``next_cursor``; pass it as ``cursor`` (with the same filters) for the next page.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from mobile_schema.timefmt import parse_timestamp
from sync_gateway.auth.authenticate import Principal

from ..deps import ConflictStoreDep, require_roles
from ..problems import BadInput

router = APIRouter(prefix="/api/v1", tags=["conflicts"])

Reader = Annotated[Principal, Depends(require_roles("manager", "backoffice", "admin"))]


class ConflictPage(BaseModel):
    records: list[dict[str, Any]]
    next_cursor: str | None


MAX_CURSOR = 1000
NOT_OURS = "cursor is not one this API handed out; start again without it"


def _encode_cursor(record: dict[str, Any]) -> str:
    raw = orjson.dumps([record["updated_at"], record["_id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """The (updated_at, _id) inside a cursor, or BadInput. Whatever the text: orjson refuses
    deep nesting and lone surrogates (the stdlib parser raised RecursionError / let surrogates
    through to a TypeError), and both values are checked for what they must be."""
    if len(cursor) > MAX_CURSOR:
        raise BadInput(NOT_OURS)
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise BadInput(NOT_OURS) from exc
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise BadInput(NOT_OURS)
    updated_at, record_id = value
    try:
        parse_timestamp(updated_at)
    except ValueError as exc:
        raise BadInput(NOT_OURS) from exc
    if not record_id.startswith("conflict_record:"):
        raise BadInput(NOT_OURS)
    return updated_at, record_id


@router.get("/conflicts")
async def list_conflicts(
    _: Reader,
    store: ConflictStoreDep,
    user_id: str | None = None,
    doc_type: str | None = None,
    since: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
) -> ConflictPage:
    """Conflict resolutions, newest first, filtered by user, document type and time."""
    if since is not None:
        try:
            parse_timestamp(since)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    before = _decode_cursor(cursor) if cursor else None
    records = await store.list_records(
        user_id=user_id, doc_type=doc_type, since=since, before=before, limit=limit
    )
    next_cursor = _encode_cursor(records[-1]) if len(records) == limit else None
    return ConflictPage(records=records, next_cursor=next_cursor)
