"""The inbox cursor: a position in fs_orders' change feed, handed to callers as an opaque string.

    next = "c1." + base64url(JSON of a CouchDB change sequence of fs_orders), unpadded

Opaque to callers, stable across restarts (it names a position in the database's own change
feed, nothing in this process). Passing it back as ``since`` continues the walk right after the
last change the previous page consumed; empty or None is the beginning (0). A string this
inbox did not issue is a :class:`~field_api.problems.BadInput` (422) that says to start again,
whether it fails to decode here or CouchDB 3 refuses the sequence inside it
(:func:`read_changes`). docs/orders-inbox.md is the contract an ERP follows.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

import orjson

from sync_gateway.couch import CouchBadRequest, CouchClient
from sync_gateway.couch.client import ChangesPage
from sync_gateway.databases import Databases

from ..problems import BadInput

CURSOR_PREFIX: Final = "c1."


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


async def read_changes(couch: CouchClient, dbs: Databases, since: Any, limit: int) -> ChangesPage:
    """A page of fs_orders' feed (with the documents) from the sequence ``since``."""
    try:
        return await couch.changes(dbs.orders, since=since, limit=limit, include_docs=True)
    except CouchBadRequest as exc:  # CouchDB 3 refuses a sequence it never issued
        raise BadInput("since is not a cursor this inbox issued; start again without it") from exc


async def check_cursor(couch: CouchClient, dbs: Databases, cursor: str | None) -> None:
    """BadInput now, before a stream starts, when the cursor is not one CouchDB accepts."""
    await read_changes(couch, dbs, decode_cursor(cursor), 1)


def not_behind(position: Any, last_seq: Any) -> Any:
    # An empty page's last_seq is where the feed ends, at or after ``position``; with numeric
    # sequences keep the larger, so a server answering oddly can never move a cursor back.
    if isinstance(position, int) and isinstance(last_seq, int):
        return max(position, last_seq)
    return last_seq if last_seq is not None else position


async def head_cursor(couch: CouchClient, dbs: Databases) -> Any:
    """The sequence at the end of fs_orders' feed now."""
    page = await couch.changes(dbs.orders, since="now")
    return page.last_seq
