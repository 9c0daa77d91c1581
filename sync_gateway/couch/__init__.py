"""CouchDB access: the HTTP client, its errors, and the embedded PouchDB Server."""

from .client import ChangesPage, CouchClient, chunked, db_path, doc_path
from .errors import (
    CouchBadRequest,
    CouchConflict,
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
    "CouchBadRequest",
    "CouchClient",
    "CouchConflict",
    "CouchError",
    "CouchForbidden",
    "CouchHTTPError",
    "CouchNotFound",
    "CouchPreconditionFailed",
    "CouchTooLarge",
    "CouchUnauthorized",
    "CouchUnavailable",
    "chunked",
    "db_path",
    "doc_path",
]
