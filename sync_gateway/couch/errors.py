"""Errors of the CouchDB client; transport and status failures become these, never httpx's.

    CouchError
    ├── CouchUnavailable          the server did not answer (down, refused, timed out, 5xx)
    └── CouchHTTPError            the server answered with an error status
        ├── CouchBadRequest       400
        ├── CouchUnauthorized     401
        ├── CouchForbidden        403
        ├── CouchNotFound         404
        ├── CouchConflict         409 (document update conflict)
        │   └── CouchConflictExhausted  a read-modify-write lost the race on every attempt
        ├── CouchPreconditionFailed 412 (e.g. the database exists)
        └── CouchTooLarge         413

Every :class:`CouchHTTPError` carries CouchDB's own ``error`` and ``reason`` strings.
"""

from __future__ import annotations


class CouchError(Exception):
    """Base of every CouchDB client error."""


class CouchUnavailable(CouchError):
    """CouchDB could not be reached or failed on its side."""


class CouchHTTPError(CouchError):
    """CouchDB answered with an error status."""

    status = 500

    def __init__(self, status: int, error: str, reason: str, *, path: str = "") -> None:
        super().__init__(
            f"{status} {error}: {reason} ({path})" if path else f"{status} {error}: {reason}"
        )
        self.status = status
        self.error = error
        self.reason = reason
        self.path = path


class CouchBadRequest(CouchHTTPError):
    status = 400


class CouchUnauthorized(CouchHTTPError):
    status = 401


class CouchForbidden(CouchHTTPError):
    status = 403


class CouchNotFound(CouchHTTPError):
    status = 404


class CouchConflict(CouchHTTPError):
    status = 409


class CouchConflictExhausted(CouchConflict):
    """A read-modify-write (``blocks.update_with_retry``) lost the revision race on every
    attempt: someone else keeps writing the document. A 409 like any other, so ``/api`` tells
    the caller to reload and send again; nothing of this call was written."""

    def __init__(self, db: str, doc_id: str, attempts: int) -> None:
        super().__init__(
            409,
            "conflict",
            f"{doc_id} changed {attempts} times while being updated",
            path=f"{db}/{doc_id}",
        )
        self.db = db
        self.doc_id = doc_id
        self.attempts = attempts


class CouchPreconditionFailed(CouchHTTPError):
    status = 412


class CouchTooLarge(CouchHTTPError):
    status = 413


_BY_STATUS: dict[int, type[CouchHTTPError]] = {
    cls.status: cls
    for cls in (
        CouchBadRequest,
        CouchUnauthorized,
        CouchForbidden,
        CouchNotFound,
        CouchConflict,
        CouchPreconditionFailed,
        CouchTooLarge,
    )
}


def error_for_status(status: int, error: str, reason: str, path: str = "") -> CouchError:
    """The exception for an error answer; 5xx means the server failed, so it is unavailable."""
    if status >= 500:
        return CouchUnavailable(f"CouchDB failed with {status} {error}: {reason} ({path})")
    cls = _BY_STATUS.get(status, CouchHTTPError)
    return cls(status, error, reason, path=path)
