"""CouchDB access: the HTTP client, its errors, the building blocks on top of it (``blocks``:
update with retry, design documents, checkpoints), and the embedded PouchDB Server."""

from .blocks import (
    CheckpointStore,
    Updated,
    ensure_design,
    update_many_with_retry,
    update_with_retry,
)
from .client import ChangesPage, CouchClient, chunked, db_path, doc_path
from .errors import (
    CouchBadRequest,
    CouchConflict,
    CouchConflictExhausted,
    CouchError,
    CouchForbidden,
    CouchHTTPError,
    CouchNotFound,
    CouchPreconditionFailed,
    CouchTooLarge,
    CouchUnauthorized,
    CouchUnavailable,
)

__all__ = [
    "ChangesPage",
    "CheckpointStore",
    "CouchBadRequest",
    "CouchClient",
    "CouchConflict",
    "CouchConflictExhausted",
    "CouchError",
    "CouchForbidden",
    "CouchHTTPError",
    "CouchNotFound",
    "CouchPreconditionFailed",
    "CouchTooLarge",
    "CouchUnauthorized",
    "CouchUnavailable",
    "Updated",
    "chunked",
    "db_path",
    "doc_path",
    "ensure_design",
    "update_many_with_retry",
    "update_with_retry",
]
