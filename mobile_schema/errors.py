"""Errors raised by mobile_schema.

Every failure is a :class:`SchemaError` whose ``reason`` is one line a person can act on, for
example ``order.lines[2].unit_price: must be a decimal string like "12.50", got 12.5``. The gateway
sends ``reason`` back to the device in CouchDB's ``{"error": "forbidden", "reason": ...}`` form and
the API puts it into ``application/problem+json``; callers that do not care about the kind catch
the base class only.

    ValueError
     └── SchemaError                   base: anything wrong with a document, id or schema version
          ├── InvalidIdError           an _id or id argument not of the form <type>:<id>
          ├── UnknownTypeError         "type" is not one of DOCUMENT_TYPES (reason lists them)
          ├── SchemaVersionError       schema_version missing, not an integer, or retired
          │    └── ClientNewerError    schema_version newer than this server knows
          └── InvalidDocumentError     fields fail validation (reason lists the first problems)
"""

from __future__ import annotations

from collections.abc import Sequence


class SchemaError(ValueError):
    """A document, id or schema version that mobile_schema refuses."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidIdError(SchemaError):
    """A document id that does not follow ``<type>:<id>``."""


class UnknownTypeError(SchemaError):
    """A ``type`` this server has no model for."""


class SchemaVersionError(SchemaError):
    """A ``schema_version`` this server cannot validate."""


class ClientNewerError(SchemaVersionError):
    """The document was written by an app newer than this server."""


class InvalidDocumentError(SchemaError):
    """Fields fail validation; ``problems`` holds every one, ``reason`` the first few."""

    def __init__(self, reason: str, problems: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.problems: tuple[str, ...] = tuple(problems) or (reason,)
