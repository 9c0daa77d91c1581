"""Which model validates which document, and the one entry point :func:`validate_document`.

``CURRENT_SCHEMA_VERSION`` is the version this server writes for each type. A document at an
older version that still has a model (order v1: apps before 2.0 are still in the field) is valid
as it is; :func:`mobile_schema.upgrades.upgrade_document` turns it into the current shape. A
version newer than the server knows is refused with :class:`ClientNewerError`: the app was
released before the server was upgraded, and guessing would lose data.

Validation never changes the document: it accepts it as sent or raises a :class:`SchemaError`
whose reason names the field (the gateway stores the body it received).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from mobile_schema.accounts import Account, Contact, Territory
from mobile_schema.base import Document
from mobile_schema.catalog import PriceList, Product
from mobile_schema.conflict_record import ConflictRecord
from mobile_schema.errors import (
    ClientNewerError,
    InvalidDocumentError,
    SchemaVersionError,
    UnknownTypeError,
)
from mobile_schema.field import Visit, VisitNote, WorkOrder
from mobile_schema.fields import describe
from mobile_schema.ids import DOCUMENT_TYPES
from mobile_schema.notification import Notification
from mobile_schema.orders import Order, OrderV1
from mobile_schema.reasons import join_problems, problems_of

MODELS: Final[dict[tuple[str, int], type[Document]]] = {
    ("product", 1): Product,
    ("price_list", 1): PriceList,
    ("account", 1): Account,
    ("contact", 1): Contact,
    ("territory", 1): Territory,
    ("order", 1): OrderV1,
    ("order", 2): Order,
    ("visit", 1): Visit,
    ("visit_note", 1): VisitNote,
    ("work_order", 1): WorkOrder,
    ("notification", 1): Notification,
    ("conflict_record", 1): ConflictRecord,
}

CURRENT_SCHEMA_VERSION: Final[dict[str, int]] = {
    doc_type: max(version for (t, version) in MODELS if t == doc_type)
    for doc_type in DOCUMENT_TYPES
}

_KNOWN = ", ".join(sorted(DOCUMENT_TYPES))


def _unknown_type(value: Any) -> UnknownTypeError:
    return UnknownTypeError(f"type: unknown document type {describe(value)}; known types: {_KNOWN}")


def model_for(doc_type: str, schema_version: int | None = None) -> type[Document]:
    """The model of ``doc_type`` at ``schema_version`` (the current one when None)."""
    if doc_type not in CURRENT_SCHEMA_VERSION:
        raise _unknown_type(doc_type)
    current = CURRENT_SCHEMA_VERSION[doc_type]
    version = current if schema_version is None else schema_version
    if version > current:
        raise ClientNewerError(
            f"{doc_type}.schema_version: {version} is newer than this server knows ({current}); "
            "the client is newer than the server: upgrade the server before syncing this app"
        )
    model = MODELS.get((doc_type, version))
    if model is None:
        supported = sorted(v for (t, v) in MODELS if t == doc_type)
        raise SchemaVersionError(
            f"{doc_type}.schema_version: {version} is not supported; supported versions: "
            + ", ".join(str(v) for v in supported)
        )
    return model


def _allowed_fields(model: type[Document]) -> list[str]:
    return sorted((field.alias or name) for name, field in model.model_fields.items())


def validate_document(doc: Mapping[str, Any]) -> Document:
    """Validate a device document and return its model; raise SchemaError with a reason."""
    if not isinstance(doc, Mapping):
        raise InvalidDocumentError(f"a document must be a JSON object, got {describe(doc)}")
    if "type" not in doc:
        raise UnknownTypeError(f"type: is required; known types: {_KNOWN}")
    doc_type = doc["type"]
    if not isinstance(doc_type, str) or doc_type not in CURRENT_SCHEMA_VERSION:
        raise _unknown_type(doc_type)
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        what = "is required" if version is None else f"must be an integer, got {describe(version)}"
        raise SchemaVersionError(
            f"{doc_type}.schema_version: {what} (current: {CURRENT_SCHEMA_VERSION[doc_type]})"
        )
    model = model_for(doc_type, version)
    try:
        # dict() is a shallow copy of a Mapping; pydantic reads, never writes, the values.
        return model.model_validate(dict(doc))
    except ValidationError as exc:
        problems = problems_of(exc, doc_type, _allowed_fields(model))
        raise InvalidDocumentError(join_problems(problems), problems) from None
