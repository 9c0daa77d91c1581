"""Document ids: ``<type>:<id>``.

``<type>`` is a lower-case snake_case name (``order``, ``visit_note``); ``<id>`` is 1-128
characters of ``[A-Za-z0-9_.:@-]`` that does not start with ``_`` (CouchDB reserves a leading
underscore). The id may itself contain ``:``; the type is everything before the first colon.
References between documents (``account_id``, ``price_list_id``, ``visit_id`` ...) hold the full
``_id`` of the referenced document; references to people (``rep_id``, ``assignee_id`` ...) hold
the user's id, the ``<id>`` part of ``user:<id>``.

:func:`split_id` and :func:`make_id` check syntax only, so other packages can use them for their
own types (``user``, ``device``); :func:`doc_type_of` answers only for the document types that
live on devices (:data:`DOCUMENT_TYPES`).
"""

from __future__ import annotations

import re

from mobile_schema.errors import InvalidIdError

LOCAL_ID_CHARS = r"[A-Za-z0-9_.:@-]"
LOCAL_ID_PATTERN = r"^[A-Za-z0-9.:@-][A-Za-z0-9_.:@-]{0,127}$"
TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
_LOCAL_ID_RE = re.compile(LOCAL_ID_PATTERN)
_TYPE_RE = re.compile(TYPE_PATTERN)

DOCUMENT_TYPES: tuple[str, ...] = (
    "product",
    "price_list",
    "account",
    "contact",
    "territory",
    "order",
    "visit",
    "visit_note",
    "work_order",
    "notification",
    "conflict_record",
)


def is_local_id(value: object) -> bool:
    """Whether ``value`` is a valid ``<id>`` part (also the shape of user, line and item ids)."""
    return isinstance(value, str) and _LOCAL_ID_RE.match(value) is not None


def split_id(doc_id: str) -> tuple[str, str]:
    """Split ``"<type>:<id>"`` into ``(type, id)``; InvalidIdError when it is not of that form."""
    if not isinstance(doc_id, str):
        raise InvalidIdError(f"document id must be a string like 'order:o-1', got {doc_id!r}")
    doc_type, sep, local_id = doc_id.partition(":")
    if not sep or not _TYPE_RE.match(doc_type) or not _LOCAL_ID_RE.match(local_id):
        raise InvalidIdError(
            f"document id must look like '<type>:<id>' (type in lower-case snake_case, id 1-128 "
            f"characters of A-Z a-z 0-9 _ . : @ - not starting with '_'), got {doc_id!r}"
        )
    return doc_type, local_id


def make_id(doc_type: str, local_id: str) -> str:
    """Build ``"<doc_type>:<local_id>"``; InvalidIdError when either part is malformed."""
    doc_id = f"{doc_type}:{local_id}"
    split_type, split_local = split_id(doc_id)
    if split_type != doc_type or split_local != local_id:
        # A colon inside doc_type would move the split point.
        raise InvalidIdError(f"document type must be lower-case snake_case, got {doc_type!r}")
    return doc_id


def doc_type_of(doc_id: str) -> str | None:
    """The type of a device document id (one of DOCUMENT_TYPES), or None for anything else."""
    try:
        doc_type, _ = split_id(doc_id)
    except InvalidIdError:
        return None
    return doc_type if doc_type in DOCUMENT_TYPES else None
