"""mobile_schema: the documents that live on devices, as strict pydantic v2 models.

Pure (pydantic only, no I/O except :func:`export_json_schemas` writing files). The contract:

- ids: ``<type>:<id>`` (:mod:`mobile_schema.ids`); timestamps ``YYYY-MM-DDTHH:MM:SS.mmmZ``
  (:mod:`mobile_schema.timefmt`); money is a decimal string, quantities JSON numbers
  (:mod:`mobile_schema.fields`, :mod:`mobile_schema.money`).
- :func:`validate_document` accepts a document as sent or raises :class:`SchemaError` with a
  reason naming the field; it never changes the document.
- :data:`CURRENT_SCHEMA_VERSION` per type; :func:`upgrade_document` lifts older documents.
- :func:`sample` builds a valid example of each type for tests and the demo seed.
"""

from mobile_schema.accounts import Account, Contact, Location, Territory
from mobile_schema.base import Document, Revisions, to_json_dict
from mobile_schema.catalog import PriceItem, PriceList, Product
from mobile_schema.conflict_record import ConflictRecord, Overridden
from mobile_schema.errors import (
    ClientNewerError,
    InvalidDocumentError,
    InvalidIdError,
    SchemaError,
    SchemaVersionError,
    UnknownTypeError,
)
from mobile_schema.export import export_json_schemas, json_schema_for
from mobile_schema.field import (
    PRIORITIES,
    VISIT_KINDS,
    VISIT_STATUSES,
    WORK_ORDER_STATUSES,
    ChecklistItem,
    Visit,
    VisitNote,
    WorkOrder,
)
from mobile_schema.ids import DOCUMENT_TYPES, doc_type_of, is_local_id, make_id, split_id
from mobile_schema.money import format_money, line_amount, order_total, to_decimal
from mobile_schema.notification import Notification
from mobile_schema.orders import (
    FINAL_ORDER_STATUSES,
    MAX_ORDER_LINES,
    ORDER_STATUS_RANK,
    ORDER_STATUSES,
    REP_ORDER_STATUSES,
    Order,
    OrderLine,
    OrderLineV1,
    OrderV1,
)
from mobile_schema.registry import CURRENT_SCHEMA_VERSION, MODELS, model_for, validate_document
from mobile_schema.roles import (
    DEVICE_DELETABLE_TYPES,
    FIELD_ROLES,
    OFFICE_ROLES,
    OWNER_FIELD,
    ROLES,
    is_field_role,
)
from mobile_schema.samples import (
    DROP,
    sample,
    sample_checklist_item,
    sample_order_line,
    sample_order_v1,
)
from mobile_schema.timefmt import (
    format_timestamp,
    is_timestamp,
    parse_timestamp,
    utc_now,
    utc_now_datetime,
)
from mobile_schema.upgrades import upgrade_document

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "DEVICE_DELETABLE_TYPES",
    "DOCUMENT_TYPES",
    "DROP",
    "FIELD_ROLES",
    "FINAL_ORDER_STATUSES",
    "MAX_ORDER_LINES",
    "MODELS",
    "OFFICE_ROLES",
    "ORDER_STATUSES",
    "ORDER_STATUS_RANK",
    "OWNER_FIELD",
    "PRIORITIES",
    "REP_ORDER_STATUSES",
    "ROLES",
    "VISIT_KINDS",
    "VISIT_STATUSES",
    "WORK_ORDER_STATUSES",
    "Account",
    "ChecklistItem",
    "ClientNewerError",
    "ConflictRecord",
    "Contact",
    "Document",
    "InvalidDocumentError",
    "InvalidIdError",
    "Location",
    "Notification",
    "Order",
    "OrderLine",
    "OrderLineV1",
    "OrderV1",
    "Overridden",
    "PriceItem",
    "PriceList",
    "Product",
    "Revisions",
    "SchemaError",
    "SchemaVersionError",
    "Territory",
    "UnknownTypeError",
    "Visit",
    "VisitNote",
    "WorkOrder",
    "doc_type_of",
    "export_json_schemas",
    "format_money",
    "format_timestamp",
    "is_field_role",
    "is_local_id",
    "is_timestamp",
    "json_schema_for",
    "line_amount",
    "make_id",
    "model_for",
    "order_total",
    "parse_timestamp",
    "sample",
    "sample_checklist_item",
    "sample_order_line",
    "sample_order_v1",
    "split_id",
    "to_decimal",
    "to_json_dict",
    "upgrade_document",
    "utc_now",
    "utc_now_datetime",
    "validate_document",
]
