"""The fields every document has, and the CouchDB fields it may carry.

A document is a JSON object::

    {"_id": "<type>:<id>", "type": "<type>", "schema_version": <int>,
     "updated_at": "YYYY-MM-DDTHH:MM:SS.mmmZ", "updated_by": "<user or device id>",
     ... the fields of its type ...,
     "_rev"?, "_revisions"?, "_attachments"?, "_deleted"?, "_conflicts"?}

The CouchDB fields are accepted under their own names (pydantic aliases) and kept as they came;
any other unknown top-level field is refused, so a typo on a phone is caught at the gateway instead
of travelling to every device. Models are strict (no coercion: ``"3"`` is not a number) and
frozen; ``model.model_dump(mode="json", by_alias=True, exclude_unset=True)`` — see
:func:`to_json_dict` — gives back the document as it was validated.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from mobile_schema.errors import InvalidIdError
from mobile_schema.fields import RevId, Timestamp, UserId, describe, fail
from mobile_schema.ids import split_id

MAX_REVISIONS = 10_000
MAX_ATTACHMENTS = 200


class Strict(BaseModel):
    """Base of every model here: strict types, unknown fields refused, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Revisions(Strict):
    """CouchDB's ``_revisions``: the revision history, newest first (``ids`` are hashes)."""

    start: int = Field(ge=1)
    ids: list[str] = Field(min_length=1, max_length=MAX_REVISIONS)


class Document(Strict):
    """Fields common to every document type; subclasses narrow ``type`` and ``schema_version``."""

    TYPE: ClassVar[str] = ""

    id: str = Field(alias="_id", description="<type>:<id>")
    rev: RevId | None = Field(default=None, alias="_rev")
    revisions: Revisions | None = Field(default=None, alias="_revisions")
    # Attachment stubs and inline attachments have several shapes (stub, data, follows); the
    # gateway handles them, here we only bound their number.
    attachments: dict[str, dict[str, JsonValue]] | None = Field(
        default=None, alias="_attachments", max_length=MAX_ATTACHMENTS
    )
    deleted: bool | None = Field(default=None, alias="_deleted")
    conflicts: list[RevId] | None = Field(default=None, alias="_conflicts")
    type: str
    schema_version: int
    updated_at: Timestamp
    updated_by: UserId

    @field_validator("schema_version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        # Literal[1] would accept true (True == 1 in Python); JSON true is not a version.
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"must be an integer, got {describe(value)}")
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _id_shape(cls, value: Any) -> Any:
        try:
            doc_type, _ = split_id(value)
        except InvalidIdError as exc:
            raise fail(exc.reason.replace("document id ", "", 1)) from None
        if cls.TYPE and doc_type != cls.TYPE:
            raise fail(f"must start with '{cls.TYPE}:', got {describe(value)}")
        return value

    @model_validator(mode="after")
    def _check_document(self) -> Document:
        self.check()
        return self

    def check(self) -> None:
        """Cross-field rules of a type; raise :func:`mobile_schema.fields.fail` errors."""


def to_json_dict(document: Document) -> dict[str, Any]:
    """The document as a JSON-ready dict with its original field names and only the sent fields."""
    return document.model_dump(mode="json", by_alias=True, exclude_unset=True)
